#!/usr/bin/env bash
# The Theseus study's tables and page (<study>/_report/; the study outputs/theseus/widths, or
# outputs/theseus/task): each width pair and arm at the alpha each run chose on validation
# (alpha: their mean; alpha_on_edge: the share of runs whose choice was an end of the grid),
# with gap recovery between the target width's zero-shot (0) and fully fine-tuned (1) runs (the
# tuned references once they exist: the untuned ones are then arms of the tables); then the
# same gap against the target fine-tuned on the projections only, the tensors transport carries
# (_report_projections/); then every arm against the naive and random controls, paired
# (_report_vs_naive/, _report_vs_random/).
set -euo pipefail
R=${TRANSPLANT_REPORT:-transplant-report}
study=${1:-outputs/theseus/widths}  # or outputs/theseus/task, the sentiment task's study
grid=grid
[[ $study == */theseus/task ]] && grid=task.grid
common=(--grid "$(dirname "$0")/$grid")
# The references: fine-tuned at the rate chosen on validation (the grid's method.optim.lrs),
# once that method has such runs; until then the first references, at the fixed rate 1e-3;
# none (the page is skipped) while the study has no run of that method.
tuned='method.optim.lrs=[3e-4,1e-3,3e-3]&method.optim.lrs_extend=2'
reference() {
  if compgen -G "$study/*method=$1,method.optim.lrs=*" > /dev/null; then
    echo "method=$1&$tuned"
  elif ! compgen -G "$study/*method=$1,*" > /dev/null; then
    echo "report.sh: no $1 run yet: no gaps against it" >&2
  else
    echo "report.sh: no tuned $1 run yet: gaps against $1 at rate 1e-3" >&2
    # (the fixed-rate runs leave the grid unset, once any run has one)
    compgen -G "$study/*method.optim.lrs=*" > /dev/null && echo "method=$1&method.optim.lrs=" \
      || echo "method=$1"
  fi
}
full=$(reference full_ft) projections=$(reference projections_ft)
if [[ -n $full ]]; then
  $R "$study" "${common[@]}" --gap method=zero_shot "$full" --html
else
  $R "$study" "${common[@]}" --html
fi
[[ -n $projections ]] && $R "$study" "${common[@]}" --gap method=zero_shot "$projections" \
    --out "$study/_report_projections"
# Each carried arm against the naive and the random control of its own pair, objective and
# seed (paired by seed: the archive keeps no per-document scores).
for control in naive random; do
  if ! compgen -G "$study/*method.arm=$control,*" > /dev/null; then
    echo "report.sh: no method.arm=$control run yet: $study/_report_vs_$control not written"
    continue  # mid-study: the control's runs come later in the grid
  fi
  $R "$study" "${common[@]}" --reference method.arm=$control --out "$study/_report_vs_$control"
done
