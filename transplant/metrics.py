"""What a metric is: its kind, direction, unit and place in a report (DESIGN §5, §6).

Whatever writes a metric declares it here-typed, next to the code that computes it: the shared
evaluation in `methods/common.py`, the run's cost in `app.py`, each method's own in its file.
A finished run records the spec of every metric it wrote (`metric_specs.json`), and `results/`
reads kind, direction and labels from there, never from a metric's name: a new method's metric
needs no edit in `results/`.

A spec's name is a metric name or an fnmatch pattern (`val_target_ppl_lr_*`); the first spec
that matches a metric is its spec, so declare names before the patterns that would cover them.
No torch, no Hydra: the report reads these too.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Kind(str, Enum):
    perplexity = "perplexity"  # exp(mean NLL): seeds are averaged on its log (geometric mean)
    bits_per_byte = "bits_per_byte"
    nll = "nll"  # mean negative log-likelihood per predicted token (nats)
    accuracy = "accuracy"
    f1 = "f1"
    ratio = "ratio"  # gap recovery, TIR, a share
    count = "count"  # tokens, parameters, documents, steps
    seconds = "seconds"  # bookkeeping: a table shows the mean alone (it depends on the machine)
    megabytes = "megabytes"
    throughput = "throughput"  # per second
    choice = "choice"  # a value chosen on validation from a grid (a rate, an alpha)
    flag = "flag"  # 0 or 1
    value = "value"  # a number of no particular kind (a norm, a setting)
    text = "text"


class Direction(str, Enum):
    lower = "lower"  # lower is better
    higher = "higher"
    none = "none"  # neither: a count, a cost, a setting


class Level(str, Enum):
    headline = "headline"  # what a study is about: plotted, ranked against controls
    summary = "summary"  # a column of the report's Arms table
    detail = "detail"  # in report.csv only


@dataclass(frozen=True)
class MetricSpec:
    name: str  # a metric name, or an fnmatch pattern over names
    kind: Kind
    direction: Direction = Direction.none
    level: Level = Level.detail
    unit: str = ""
    label: str = ""  # how figures name it; the name itself when empty

    @property
    def geometric(self) -> bool:
        """Averaged over seeds on its logarithm."""
        return self.kind == Kind.perplexity

    @property
    def interval(self) -> bool:
        """Whether a table gives it an interval over seeds (a cost depends on the machine)."""
        return self.kind != Kind.seconds

    def matches(self, metric: str) -> bool:
        return metric == self.name or fnmatch.fnmatchcase(metric, self.name)

    def named(self, metric: str) -> MetricSpec:
        """This spec for one metric it matches."""
        return MetricSpec(metric, self.kind, self.direction, self.level, self.unit, self.label)

    def as_dict(self) -> dict[str, str]:
        d = asdict(self)
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricSpec:
        return cls(d["name"], Kind(d["kind"]), Direction(d.get("direction", "none")),
                   Level(d.get("level", "detail")), d.get("unit", ""), d.get("label", ""))


def spec(name: str, kind: Kind, direction: Direction = Direction.none,
         level: Level = Level.detail, unit: str = "", label: str = "") -> MetricSpec:
    return MetricSpec(name, kind, direction, level, unit, label)


LOWER, HIGHER = Direction.lower, Direction.higher
HEADLINE, SUMMARY = Level.headline, Level.summary


def undeclared(metric: str) -> MetricSpec:
    """What a metric nobody declared is: a number (or text) with no direction."""
    return MetricSpec(metric, Kind.value)


def resolve(metrics: Mapping[str, Any], declared: Iterable[MetricSpec]
            ) -> tuple[dict[str, MetricSpec], list[str]]:
    """The spec of every metric in `metrics` (the first declared spec that matches it), in
    declaration order, and the names no spec matches (recorded as `undeclared`)."""
    declared = list(declared)
    found: dict[str, tuple[int, MetricSpec]] = {}
    missing = []
    for metric, value in metrics.items():
        index = next((i for i, s in enumerate(declared) if s.matches(metric)), None)
        if index is None:
            missing.append(metric)
            kind = Kind.text if isinstance(value, str) else Kind.value
            found[metric] = (len(declared), MetricSpec(metric, kind))
        else:
            found[metric] = (index, declared[index].named(metric))
    ordered = sorted(found.items(), key=lambda item: item[1][0])  # stable: metrics' own order
    return {m: s for m, (_, s) in ordered}, missing
