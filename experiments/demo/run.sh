#!/usr/bin/env bash
# The demo study: every trained arm at 3 learning rates x 3 seeds, zero-shot once (it has
# neither). Relaunching skips finished runs, so this resumes an interrupted study.
set -euo pipefail
T=${TRANSPLANT:-transplant}
$T -m experiment=demo method=zero_shot "$@"
$T -m experiment=demo method=lora method.optim.lr=3e-4,1e-3,3e-3 seed=0,1,2 "$@"
$T -m experiment=demo method=full_ft method.optim.lr=1e-5,3e-5,1e-4 seed=0,1,2 "$@"
$T -m experiment=demo method=organ method.organ.evaluate_wrapper=false \
    method.optim.lr=1e-4,3e-4,1e-3 seed=0,1,2 "$@"
