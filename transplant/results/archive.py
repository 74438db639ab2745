"""Archive a study's finished run records where git keeps them, and bring them back.

A long study outlives the machine it started on: a laptop is wiped, a cluster's scratch is
purged, a session ends. The run contract resumes a sweep from `outputs/<study>/`, so what must
travel is each finished run's record: config.yaml, status.json, metrics.json and (gzipped)
per-document scores in docs/. Checkpoints, caches and logs stay behind; the caches are rebuilt
on demand from the same seeds. Per-document scores are most of a record (~60 kB gzipped for
3,000 tweets against ~3 kB for the rest): `--no-docs` leaves them out for a large study
(restored runs then have none, and `--reference` pairs them by seed alone, from the metrics).

    transplant-archive save outputs/theseus/widths experiments/theseus/runs/widths --no-docs
    transplant-archive restore experiments/theseus/runs/widths outputs/theseus/widths

`save` copies runs that are done and not yet archived as they are; `restore` copies archived
runs into a study directory where that run is not done, so a relaunched sweep skips them. Run
`restore` before launching, not beside a running sweep. Each run is copied atomically: a reader
sees the whole record or none of it.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
from pathlib import Path

from transplant.atomic import replacing
from transplant.layout import OPTIONAL_RECORD_FILES, RECORD_FILES, RunLayout
from transplant.runs import RunRecord


def _runs(study_dir: Path) -> list[Path]:
    """Run directories: not the study's own `_launches`, `_report`, ... nor hidden temporaries."""
    return sorted(p for p in study_dir.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")))


def _done(run: Path) -> bool:
    return RunRecord(run, {}).is_done()


def _same_record(a: Path, b: Path) -> bool:
    def same(f: str) -> bool:
        return (a / f).exists() == (b / f).exists() and (
            not (a / f).exists() or (a / f).read_bytes() == (b / f).read_bytes())

    return all((a / f).exists() for f in RECORD_FILES) and all(
        same(f) for f in (*RECORD_FILES, *OPTIONAL_RECORD_FILES))


def _copy_record(run: Path, dest: Path, *, pack: bool, docs: bool = True) -> None:
    """`run`'s record files into `dest` in one rename; docs/*.json gzipped (`pack`) or back."""
    with replacing(dest, directory=True) as tmp:
        for f in (*RECORD_FILES, *(f for f in OPTIONAL_RECORD_FILES if (run / f).exists())):
            shutil.copy2(run / f, tmp / f)
        source, target = RunLayout(run).docs, RunLayout(tmp).docs
        for doc in sorted(source.glob("*.json" if pack else "*.json.gz")) if docs else []:
            target.mkdir(exist_ok=True)
            name = target / (f"{doc.name}.gz" if pack else doc.stem)
            # mtime=0: the same scores give the same bytes, so git stores them once
            with (open(doc, "rb") if pack else gzip.open(doc, "rb")) as src, \
                    (gzip.GzipFile(name, "wb", mtime=0) if pack else open(name, "wb")) as out:
                shutil.copyfileobj(src, out)


def save(study_dir: str | Path, archive: str | Path, docs: bool = True) -> dict[str, int]:
    """Copy the finished runs of `study_dir` into `archive` (docs/*.json gzipped, unless not
    `docs`)."""
    study_dir, archive = Path(study_dir), Path(archive)
    if not study_dir.is_dir():
        raise FileNotFoundError(f"no study directory at {study_dir}")
    counts = {"saved": 0, "unchanged": 0, "not done": 0}
    for run in _runs(study_dir):
        if not _done(run):
            counts["not done"] += 1
            continue
        dest = archive / run.name
        if _same_record(run, dest):
            counts["unchanged"] += 1
            continue
        _copy_record(run, dest, pack=True, docs=docs)
        counts["saved"] += 1
    return counts


def restore(archive: str | Path, study_dir: str | Path) -> dict[str, int]:
    """Copy archived runs into `study_dir` where that run is not done (docs/ unzipped)."""
    archive, study_dir = Path(archive), Path(study_dir)
    if not archive.is_dir():
        raise FileNotFoundError(f"no archive at {archive}")
    counts = {"restored": 0, "already done": 0}
    for run in _runs(archive):
        dest = study_dir / run.name
        if _done(dest):
            counts["already done"] += 1
            continue
        _copy_record(run, dest, pack=False)
        counts["restored"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("save", help="finished runs of a study directory -> an archive")
    p.add_argument("study_dir")
    p.add_argument("archive")
    p.add_argument("--no-docs", action="store_true",
                   help="leave the per-document scores (docs/) out of the archive")
    p = sub.add_parser("restore", help="an archive -> a study directory (runs not done there)")
    p.add_argument("archive")
    p.add_argument("study_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            counts = save(args.study_dir, args.archive, docs=not args.no_docs)
        else:
            counts = restore(args.archive, args.study_dir)
    except FileNotFoundError as e:
        print(f"transplant-archive: {e}", file=sys.stderr)
        return 2
    print(", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
