#!/usr/bin/env bash
# The zoo (experiments/zoo/grid, study zoo): 3 widths x 3 seeds. A restored record whose
# model is not in this machine's cache, or is not the file the record scored (product_sha256),
# runs again (its product is the model). Built with pinned arithmetic (../pinned.sh), so that
# another machine rebuilds the same bytes.
# Finished runs are kept in git (experiments/zoo/runs: restored first, saved every 5 minutes
# and at exit; commit them). Relaunch to resume. Extra arguments are overrides for every launch.
#   OUTPUTS=/scratch/outputs bash experiments/zoo/run.sh hydra/launcher=slurm
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUTPUTS:-outputs}
source "$here/../pinned.sh"
exec "${pinned[@]}" bash "$here/../archived.sh" "$out/zoo" "$here/runs" \
    bash "$here/../sweep.sh" "$here/grid" paths.outputs="$out" "$@"
