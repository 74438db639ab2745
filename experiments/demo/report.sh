#!/usr/bin/env bash
# The demo study's tables and page from its run records (outputs/demo/_report/).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/demo}" --select method.optim.lr --by val_target_ppl \
    --reference method=zero_shot --html \
    --expect "experiment=demo method=zero_shot" \
    --expect "experiment=demo method=lora method.optim.lr=3e-4,1e-3,3e-3 seed=0,1,2" \
    --expect "experiment=demo method=full_ft method.optim.lr=1e-5,3e-5,1e-4 seed=0,1,2" \
    --expect "experiment=demo method=organ method.organ.evaluate_wrapper=false method.optim.lr=1e-4,3e-4,1e-3 seed=0,1,2"
