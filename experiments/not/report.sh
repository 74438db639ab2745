#!/usr/bin/env bash
# The organ studies' tables and pages: not/budget (each budget and training kind at the rate
# each run chose on validation: lr is their mean, lr_on_edge the share at an end of the grid)
# and not/positions (each trained position paired with the untrained organ at
# the same position and mode).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
here=$(dirname "$0")
$R "${1:-outputs}/not/budget" --html --grid "$here/budget.grid"
$R "${1:-outputs}/not/positions" --reference method.organ.trained=false --html \
    --grid "$here/positions.grid"
