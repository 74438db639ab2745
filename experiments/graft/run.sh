#!/usr/bin/env bash
# The graft study (its grid: experiments/graft/grid). Relaunch to resume.
set -euo pipefail
exec bash "$(dirname "$0")/../sweep.sh" "$(dirname "$0")/grid" "$@"
