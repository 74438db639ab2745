#!/usr/bin/env bash
# The demo study's tables and page from its run records (outputs/demo/_report/).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/demo}" --select method.optim.lr --by val_target_ppl \
    --reference method=zero_shot --html --grid "$(dirname "$0")/grid"
