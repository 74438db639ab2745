#!/usr/bin/env bash
# The Theseus study on any machine; relaunch to resume, then commit the archive (the runs/ folder).
#   bash experiments/theseus/run.sh              the sentiment task: study theseus/task, task.grid,
#                                                runs/task/ (open)
#   THESEUS=lm bash experiments/theseus/run.sh   language modelling: study theseus/widths, grid,
#                                                runs/ (complete)
#  1. the zoo widths, built from their recipe unless this machine has them, and checked against
#     the weights both halves' archived runs read (zoo.sha256, session 11's build): new records
#     must not mix with old ones made on other weights;
#  2. the archived runs restored, so the sweep skips them;
#  3. the grid swept, every finished run archived every 5 minutes and when the sweep ends or is
#     stopped.
# Extra arguments are overrides for every launch (e.g. hydra/launcher=slurm).
#   TRANSPLANT="python -m transplant" OUTPUTS=/scratch/outputs bash experiments/theseus/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
T=${TRANSPLANT:-transplant}
out=${OUTPUTS:-outputs}

# The zoo is built with its arithmetic pinned (../pinned.sh): unpinned, session 11's build did
# not rebuild byte for byte on every machine; pinned, it does on the AMD machines seen so far.
source "$here/../pinned.sh"
case ${THESEUS:-task} in
  task) study=theseus/task grid=task.grid archive=runs/task ;;
  lm) study=theseus/widths grid=grid archive=runs/widths ;;
  *) echo "run.sh: THESEUS=${THESEUS}: expected task or lm" >&2; exit 2 ;;
esac

# The zoo's key holds no evaluation setting: a study of its own with short scoring builds the
# same weights in half the zoo study's time.
# shellcheck disable=SC2086  # T is a command with its arguments
"${pinned[@]}" $T -m experiment=zoo seed=0 study=zoo_build eval.max_tokens=1024 \
    paths.outputs="$out" "$@" </dev/null
if ! (cd "$out/cache/zoo" && sha256sum --quiet -c "$here/zoo.sha256"); then
  echo "run.sh: the zoo in $out/cache/zoo differs from the one the archived runs of" \
       "$study read ($here/zoo.sha256); resuming would mix weights. Stopped. (A CPU whose" \
       "kernels the pin does not reach: see experiments/pinned.sh and the README.)" >&2
  exit 1
fi

ARCHIVE_DOCS=0 TRANSPLANT=$T bash "$here/../archived.sh" "$out/$study" "$here/$archive" \
    bash "$here/../sweep.sh" "$here/$grid" paths.outputs="$out" "$@"
