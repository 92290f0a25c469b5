#!/usr/bin/env bash
# [controller] on_external = adopt against a real external write: see external_writer.sh.
MODE=adopt exec bash "$(dirname "$0")/external_writer.sh"
