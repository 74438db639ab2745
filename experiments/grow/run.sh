#!/usr/bin/env bash
# The growth study (experiments/grow/grid, study grow).
# Finished runs are kept in git (experiments/grow/runs: restored first, saved every 5 minutes
# and at exit; commit them). Relaunch to resume. Extra arguments are overrides for every launch.
#   OUTPUTS=/scratch/outputs bash experiments/grow/run.sh hydra/launcher=slurm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUTPUTS:-outputs}
exec bash "$here/../archived.sh" "$out/grow" "$here/runs" \
    bash "$here/../sweep.sh" "$here/grid" paths.outputs="$out" "$@"
