#!/usr/bin/env bash
# Launch a study's grid file: one `transplant -m` per line, in file order (# starts a comment).
# Relaunching skips finished runs and resumes preempted ones, so this also resumes a study.
#
#   bash experiments/sweep.sh experiments/demo/grid [extra overrides, e.g. hydra/launcher=slurm]
#
# TRANSPLANT overrides the command (e.g. "python -m transplant" from another checkout).
set -euo pipefail
set -f  # a line is overrides, not file patterns: [a,b] lists must not glob
grid=$1; shift
T=${TRANSPLANT:-transplant}
while IFS= read -r line || [[ -n $line ]]; do
  line=${line%%#*}
  [[ -z ${line// } ]] && continue
  # shellcheck disable=SC2086  # a line is a list of overrides: split it on spaces
  $T -m $line "$@" </dev/null
done < "$grid"
