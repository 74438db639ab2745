"""What each metric of a study is: read from its runs' records (`metric_specs.json`, written by
the run from its method's declarations), never guessed from a metric's name.

Records written before runs declared their metrics carry no specs: `legacy_spec` reads them
with the rules the report used then (frozen: a new metric never needs an entry here), and
graft's records of that time are renamed to the names every method uses now
(`sentiment_acc` -> `target_acc`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from transplant.metrics import HIGHER, LOWER, Direction, Kind, Level, MetricSpec, undeclared

# The report's own metrics (computed from records, not written by runs).
DERIVED = {s.name: s for s in (
    MetricSpec("gap_recovery_ppl", Kind.ratio, HIGHER, Level.summary,
               label="gap recovery (log test perplexity)"),
    MetricSpec("gap_recovery_acc", Kind.ratio, HIGHER, Level.summary,
               label="gap recovery (test accuracy)"),
    MetricSpec("tir_acc", Kind.ratio, HIGHER, Level.summary))}


@dataclass(frozen=True)
class MetricSpecs:
    """name -> spec for a study's metrics, in the order the runs declared them."""

    specs: Mapping[str, MetricSpec] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> MetricSpec:
        found = self.specs.get(metric) or DERIVED.get(metric)
        return found if found is not None else undeclared(metric)

    def __contains__(self, metric: str) -> bool:
        return metric in self.specs or metric in DERIVED

    def at_least(self, level: Level) -> list[str]:
        """The metrics at `level` or above (headline > summary > detail), in order."""
        rank = {Level.headline: 0, Level.summary: 1, Level.detail: 2}
        return [m for m, s in self.specs.items() if rank[s.level] <= rank[level]]

    def headline(self, present: Iterable[str]) -> str | None:
        """The study's main metric: the first declared headline metric its runs have."""
        present = set(present)
        return next((m for m in self.at_least(Level.headline) if m in present), None)

    def label(self, name: str) -> str:
        """How a figure names a metric, or a factor (a config key: `method.optim.lr`)."""
        if name in FACTOR_LABELS:
            return FACTOR_LABELS[name]
        return (self[name].label or name) if name in self else name

    @classmethod
    def merged(cls, declared: Iterable[Mapping[str, MetricSpec]],
               legacy: Iterable[str] = ()) -> MetricSpecs:
        """The union of the runs' declared specs, in first-seen order, then `legacy_spec` of
        the metrics only older records have. Two runs that rank a metric in opposite
        directions are an error naming it."""
        out: dict[str, MetricSpec] = {}
        for specs in declared:
            for name, spec in specs.items():
                seen = out.setdefault(name, spec)
                if seen.direction != spec.direction:
                    raise ValueError(
                        f"metric {name!r} is declared {seen.direction.value}-is-better by one "
                        f"run and {spec.direction.value}-is-better by another")
        old = legacy_specs(m for m in legacy if m not in out)
        return cls({**out, **old})

    @classmethod
    def legacy(cls, names: Iterable[str]) -> MetricSpecs:
        """Specs for the metrics of records written before runs declared them."""
        return cls(legacy_specs(names))


# How figures name the factors a study varies (config keys, not metrics).
FACTOR_LABELS = {"method.optim.lr": "learning rate",
                 "method.organ.position": "implant position (layer)",
                 "method.graft.k": "grafted modules K",
                 "method.graft.alpha": "graft strength alpha", "method.condition": "condition",
                 "trainer.max_steps": "training steps"}


# --- Records written before runs declared their metrics (frozen) ------------------------------

# graft wrote its sentiment scores under names of its own (with a prompt of its own, "Tweet:
# ..."; every method now scores with data/tasks.py's).
LEGACY_NAMES = {f"{who}{old}": f"{who}{new}" for who in ("", "before_", "donor_")
                for old, new in (("sentiment_acc", "target_acc"), ("sentiment_f1", "target_f1"),
                                 ("majority_acc", "target_majority_acc"),
                                 ("sentiment_n", "target_n"))}

_LEGACY_SUMMARY = ("target_ppl", "target_bpb", "retention_ppl", "val_target_ppl",
                   "wrapper_target_ppl", "wrapper_val_target_ppl", "wrapper_retention_ppl",
                   "target_acc", "target_f1", "target_majority_acc", "zero_target_acc",
                   "origin_acc", "val_target_acc", "gap_recovery_ppl", "gap_recovery_acc",
                   "tir_acc", "alpha", "alpha_on_edge", "lr", "lr_on_edge", "train_tokens",
                   "params_trainable", "wall_s")
_LEGACY_HEADLINE = ("target_ppl", "target_acc", "target_f1", "wrapper_target_ppl")
_LEGACY_LABELS = {"target_ppl": "target-domain test perplexity",
                  "retention_ppl": "retention-domain test perplexity",
                  "val_target_ppl": "target validation perplexity",
                  "target_acc": "target test accuracy",
                  "val_target_acc": "target validation accuracy",
                  "target_f1": "target test macro-F1",
                  "wrapper_target_ppl": "organ in its wrapper: target test perplexity"}


def legacy_spec(name: str) -> MetricSpec:
    """What the report took a metric of an old record to be, from its name (the one place such
    a rule remains). Gap recovery and TIR are higher-is-better (the old rule said lower)."""
    if name in DERIVED:
        return DERIVED[name]
    direction = Direction.none
    if re.search(r"(^|_)ppl($|_)", name):
        kind, direction = Kind.perplexity, LOWER
    elif name.endswith("_bpb"):
        kind, direction = Kind.bits_per_byte, LOWER
    elif name.endswith("_nll"):
        kind, direction = Kind.nll, LOWER
    elif name.endswith("majority_acc"):
        kind = Kind.accuracy
    elif name.endswith("_acc"):
        kind, direction = Kind.accuracy, HIGHER
    elif name.endswith("_f1"):
        kind, direction = Kind.f1, HIGHER
    elif name in ("lr", "alpha"):
        kind = Kind.choice
    elif name.endswith("_s"):
        kind = Kind.seconds
    else:
        kind = Kind.value
    level = (Level.headline if name in _LEGACY_HEADLINE else
             Level.summary if name in _LEGACY_SUMMARY else Level.detail)
    return MetricSpec(name, kind, direction, level, label=_LEGACY_LABELS.get(name, ""))


def legacy_specs(names: Iterable[str]) -> dict[str, MetricSpec]:
    """`legacy_spec` of each name, the summary metrics first in the order the report showed
    them."""
    names = list(dict.fromkeys(names))
    order = {m: i for i, m in enumerate(_LEGACY_SUMMARY)}
    names.sort(key=lambda m: order.get(m, len(order)))
    return {m: legacy_spec(m) for m in names}
