#!/usr/bin/env bash
# The grow study's tables and page (outputs/grow_retention/_report/): each arm at the learning
# rate its validation chose, paired with zero-shot, and the frontier of every arm and rate.
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/grow_retention}" --select method.optim.lr --by val_target_ppl \
    --reference method=zero_shot --html --grid "$(dirname "$0")/grid"
