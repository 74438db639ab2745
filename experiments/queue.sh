#!/usr/bin/env bash
# Every study still open, one after another (one CPU study at a time), each resumable: relaunch
# to go on where it stopped, then commit experiments/*/runs. Extra arguments go to each study;
# STUDIES picks and orders them.
#   PATH=.venv/bin:$PATH setsid nohup bash experiments/queue.sh > queue.log 2>&1 &
#   STUDIES="graft not" bash experiments/queue.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for study in ${STUDIES:-theseus graft not grow zoo}; do
  echo "queue.sh: $study ($(date -u +%FT%TZ))"
  bash "$here/$study/run.sh" "$@"
done
