#!/usr/bin/env bash
# The graft study's tables and page (outputs/graft_strength/_report/): every (select, K, alpha)
# cell with mean [95% interval] and n over seeds, gap recovery and TIR as the runs record them.
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/graft_strength}" --html --grid "$(dirname "$0")/grid"
