#!/usr/bin/env bash
# [controller] on_external = yield against a real external write: see external_writer.sh.
MODE=yield exec bash "$(dirname "$0")/external_writer.sh"
