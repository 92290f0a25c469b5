#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# [controller] on_external = yield against a real external write: see external_writer.sh.
MODE=yield exec bash "$(dirname "$0")/external_writer.sh"
