#!/usr/bin/env bash
# The demo study (its grid: experiments/demo/grid). Relaunch to resume.
set -euo pipefail
exec bash "$(dirname "$0")/../sweep.sh" "$(dirname "$0")/grid" "$@"
