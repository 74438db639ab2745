#!/usr/bin/env bash
# The zoo's table and page (outputs/zoo/_report/): each width over its 3 seeds, and each width's
# perplexity against w128's on the same test documents (paired by seed and document).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
$R "${1:-outputs/zoo}" --reference method.recipe.hidden=128 --html --grid "$(dirname "$0")/grid"
