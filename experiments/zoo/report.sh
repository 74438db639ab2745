#!/usr/bin/env bash
# The zoo's table and page (outputs/zoo/_report/): each width over its 3 seeds.
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/zoo}" --html --grid "$(dirname "$0")/grid"
