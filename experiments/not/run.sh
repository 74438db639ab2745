#!/usr/bin/env bash
# The organ studies: positions (experiments/not/positions.grid, study not/positions),
# then budget (budget.grid, study not/budget).
# Finished runs are kept in git (experiments/not/runs: restored first, saved every 5 minutes
# and at exit; commit them). Relaunch to resume. Extra arguments are overrides for every launch.
#   OUTPUTS=/scratch/outputs bash experiments/not/run.sh hydra/launcher=slurm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUTPUTS:-outputs}
for part in positions budget; do
  bash "$here/../archived.sh" "$out/not/$part" "$here/runs/$part" \
      bash "$here/../sweep.sh" "$here/$part.grid" paths.outputs="$out" "$@"
done
