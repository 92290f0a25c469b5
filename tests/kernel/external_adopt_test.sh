#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# [controller] on_external = adopt against a real external write: see external_writer.sh.
MODE=adopt exec bash "$(dirname "$0")/external_writer.sh"
