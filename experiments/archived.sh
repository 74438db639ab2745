#!/usr/bin/env bash
# Run a command (a study's sweep) with its finished runs kept in git: restore them from the
# archive first (the sweep skips them), archive every finished run every 5 minutes and when
# the command ends or is stopped. See `transplant-archive --help`.
#
#   bash experiments/archived.sh outputs/graft experiments/graft/runs \
#       bash experiments/sweep.sh experiments/graft/grid
#
# ARCHIVE_DOCS=0 leaves the per-document scores out (a large study: its paired tables then
# pair by seed alone).
set -euo pipefail
study=$1 archive=$2; shift 2
A=${TRANSPLANT_ARCHIVE:-transplant-archive}
docs=()
[[ ${ARCHIVE_DOCS:-1} == 0 ]] && docs=(--no-docs)
[[ -d $archive ]] && $A restore "$archive" "$study"
save() { if [[ -d $study ]]; then $A save "$study" "$archive" "${docs[@]}"; fi; }
(while sleep 300; do save >/dev/null || true; done) &
saver=$!
trap 'kill $saver 2>/dev/null; save' EXIT
"$@"
