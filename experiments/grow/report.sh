#!/usr/bin/env bash
# The grow study's tables and page (outputs/grow/_report/): each arm at the learning
# rate its validation chose, paired with zero-shot, and the frontier of every arm and rate;
# then the same arms paired with full fine-tuning at its chosen rate (_report/vs_full_ft/).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
study=${1:-outputs/grow}
$R "$study" --select method.optim.lr --by val_target_ppl \
    --reference method=zero_shot --html --grid "$(dirname "$0")/grid"
$R "$study" --select method.optim.lr --by val_target_ppl --reference method=full_ft \
    --out "$study/_report/vs_full_ft" > /dev/null
echo "paired with full fine-tuning: $study/_report/vs_full_ft/report.md"
