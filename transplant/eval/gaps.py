"""How much of the donor-target gap a transplant closes (DESIGN §6)."""

from __future__ import annotations

import math


def gap_recovery(after: float, target: float, donor: float, lower_is_better: bool = False
                 ) -> float | None:
    """(m_after - m_target) / (m_donor - m_target); for perplexity (lower is better) computed
    on log perplexity. 1 = the donor's level, 0 = no change, > 1 = beyond the donor."""
    if lower_is_better:
        after, target, donor = math.log(after), math.log(target), math.log(donor)
    if donor == target:
        return None  # no gap to recover: undefined, recorded as null
    return (after - target) / (donor - target)


def tir(after: float, target: float) -> float | None:
    """Target improvement ratio m_after / m_target (higher-is-better metrics)."""
    return after / target if target else None
