#!/usr/bin/env bash
# The graft study's tables and page (outputs/graft/_report/): every (select, K, alpha)
# cell with mean [95% interval over donors] and n (donor seeds 0-2 where the grid has them),
# gap recovery and TIR as the runs record them, and each cell against the parameter-matched
# random draws of the same K and alpha on the same donor (rank p-value), and bottom-K against
# the ranked graft of the same K on the same donor (paired by donor).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/graft}" --control method.graft.select=random_matched \
    --reference method.graft.select=activation --replicate method.graft.donor_seed --html --grid "$(dirname "$0")/grid"
