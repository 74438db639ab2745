#!/usr/bin/env bash
# The Theseus study's tables and page (outputs/theseus_widths/_report/): each width pair and arm
# at the alpha its validation chose, with gap recovery between the target width's zero-shot (0)
# and fine-tuned (1) runs.
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/theseus_widths}" --select method.alpha --by val_target_ppl,val_target_acc \
    --gap method=zero_shot method=full_ft --html --grid "$(dirname "$0")/grid"
