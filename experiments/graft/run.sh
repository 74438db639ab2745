#!/usr/bin/env bash
# The graft study (experiments/graft/grid, study graft).
# Finished runs are kept in git (experiments/graft/runs: restored first, saved every 5 minutes
# and at exit; commit them). Relaunch to resume. Extra arguments are overrides for every launch.
#   OUTPUTS=/scratch/outputs bash experiments/graft/run.sh hydra/launcher=slurm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUTPUTS:-outputs}
exec bash "$here/../archived.sh" "$out/graft" "$here/runs" \
    bash "$here/../sweep.sh" "$here/grid" paths.outputs="$out" "$@"
