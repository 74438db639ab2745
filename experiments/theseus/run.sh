#!/usr/bin/env bash
# The Theseus study on any machine; relaunch to resume, then commit experiments/theseus/runs.
#  1. the zoo widths, built from their recipe unless this machine has them, and checked against
#     the weights the archived runs read (zoo.sha256): new records must not mix with old ones
#     made on other weights;
#  2. the archived runs restored, so the sweep skips them;
#  3. the grid swept (experiments/theseus/grid), every finished run archived every 5 minutes
#     and when the sweep ends or is stopped.
# Extra arguments are overrides for every launch (e.g. hydra/launcher=slurm).
#   TRANSPLANT="python -m transplant" OUTPUTS=/scratch/outputs bash experiments/theseus/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
T=${TRANSPLANT:-transplant}
out=${OUTPUTS:-outputs}

# The zoo's key holds no evaluation setting: a study of its own with short scoring builds the
# same weights in half the zoo study's time.
# shellcheck disable=SC2086  # T is a command with its arguments
$T -m experiment=zoo seed=0 study=zoo_build eval.max_tokens=1024 paths.outputs="$out" "$@" \
    </dev/null
if ! (cd "$out/cache/zoo" && sha256sum --quiet -c "$here/zoo.sha256"); then
  echo "run.sh: the zoo in $out/cache/zoo differs from the one the archived runs read" \
       "($here/zoo.sha256); resuming would mix weights. Stopped." >&2
  exit 1
fi

ARCHIVE_DOCS=0 TRANSPLANT=$T bash "$here/../archived.sh" "$out/theseus_widths" "$here/runs" \
    bash "$here/../sweep.sh" "$here/grid" paths.outputs="$out" "$@"
