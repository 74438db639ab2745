#!/usr/bin/env bash
# The small portability study's tables and page (outputs/portability/small/_report/): accuracy
# per PEFT module x condition x host pair with 95% intervals over seeds, and grouped bars.
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/portability/small}" --html --grid "$(dirname "$0")/small.grid" \
    --reference method.condition=scratch
