#!/usr/bin/env bash
# The demo study: every trained arm at 3 learning rates x 3 seeds, zero-shot once (it has
# neither). Seed-major, so that a partial study already has every arm and learning rate at the
# first seeds. Relaunching skips finished runs, so this also resumes an interrupted study.
set -euo pipefail
T=${TRANSPLANT:-transplant}
$T -m experiment=demo method=zero_shot "$@"
for seed in 0 1 2; do
  $T -m experiment=demo method=lora method.optim.lr=3e-4,1e-3,3e-3 seed=$seed "$@"
  $T -m experiment=demo method=full_ft method.optim.lr=1e-5,3e-5,1e-4 seed=$seed "$@"
  $T -m experiment=demo method=organ method.organ.evaluate_wrapper=false \
      method.optim.lr=1e-4,3e-4,1e-3 seed=$seed "$@"
done
