"""Bad input is refused before any work, naming what is wrong and what was expected."""

import json

import pytest
import torch

from tests.conftest import compose_cfg
from transplant.config import ConfigError
from transplant.data.corpora import CorpusFileError, CorpusSpec, load_corpus
from transplant.validation import validate


def _validate(*overrides):
    validate(compose_cfg(["model=tiny_llama", *overrides]))


def test_one_text_file_has_empty_splits_and_chunking_is_offered(tmp_path):
    # the id 'books/book.txt' hashes into train (bucket 179 of 1000), wherever tmp_path is
    (tmp_path / "books").mkdir()
    book = tmp_path / "books" / "book.txt"
    book.write_text("".join(f"Paragraph {i} of prose.\n\n" for i in range(400)))
    with pytest.raises(ConfigError, match=r"data.paths=.* is invalid: expected files whose "
                                          r"test split is not empty.*data.chunk_chars=2000"):
        _validate("data=text_files", f"data.paths=[{book}]", "method=lora")
    _validate("data=text_files", f"data.paths=[{book}]", "method=lora",
              "data.chunk_chars=100")  # 100 chunks: 5 fall in validation, 6 in test


@pytest.mark.parametrize("paths,message", [
    ("[{d}/nothing*.txt]", "data.paths entry '{d}/nothing\\*.txt' matches no file"),
    ("[{d}]", "data.paths entry '{d}' is a directory: expected files or globs"),
])
def test_paths_that_match_nothing_or_a_directory(tmp_path, paths, message):
    with pytest.raises(ConfigError, match=message.format(d=tmp_path)):
        _validate("data=text_files", "data.paths=" + paths.format(d=tmp_path))


def test_jsonl_errors_name_the_file_line_and_field(tmp_path):
    good = json.dumps({"text": "fine"})
    (tmp_path / "a.jsonl").write_text(f"{good}\n{json.dumps({'body': 'x'})}\n")
    with pytest.raises(CorpusFileError, match=r"a.jsonl:2 has no field 'text' \(data.text_field"
                                              r"\); it has \['body'\]"):
        load_corpus(CorpusSpec("text_files", (str(tmp_path / "a.jsonl"),)))
    (tmp_path / "b.jsonl").write_text(f"{good}\n\n{{broken\n")
    with pytest.raises(CorpusFileError, match=r"b.jsonl:3: not valid JSON"):
        load_corpus(CorpusSpec("text_files", (str(tmp_path / "b.jsonl"),)))


def test_binary_and_non_utf8_files_are_refused(tmp_path):
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CorpusFileError, match="blob.bin looks binary"):
        load_corpus(CorpusSpec("text_files", (str(tmp_path / "blob.bin"),)))
    (tmp_path / "latin.txt").write_bytes("first line\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusFileError, match=r"latin.txt is not UTF-8: undecodable byte 0xe9 "
                                              r"at line 2"):
        load_corpus(CorpusSpec("text_files", (str(tmp_path / "latin.txt"),)))


def test_bad_trainer_settings_are_config_errors():
    with pytest.raises(ConfigError, match="trainer.precision='bogus' is invalid: expected one "
                                          "of 64-true"):
        _validate("trainer.precision=bogus")
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here: accelerator=gpu is valid")
    with pytest.raises(ConfigError, match="trainer.accelerator='gpu' is invalid: expected auto "
                                          "or cpu on this machine: no GPU is visible"):
        _validate("trainer.accelerator=gpu")


def test_lora_targets_that_match_no_module():
    with pytest.raises(ConfigError, match=r"method.trainable.lora.targets=\['q_proj', 'qkv'\] "
                                          r"is invalid: expected module names of the llama "
                                          r"family: down_proj.*\(qkv match no module\)"):
        _validate("method=lora", "method.trainable.lora.targets=[q_proj,qkv]")
    _validate("method=lora", "method.trainable.lora.targets=[q_proj,model.layers.0.mlp.up_proj]")


def test_chunks_keep_every_character_and_respect_the_limit():
    from transplant.data.corpora import Document, chunked

    text = "short para\n\n" + "x" * 250 + "\n\nline one\nline two\n\n" + "tail"
    pieces = chunked([Document("d", text, "pos")], 100)
    assert "".join(p.text for p in pieces).rstrip() == text
    assert all(len(p.text) <= 100 for p in pieces) and len(pieces) >= 4
    assert [p.id for p in pieces] == [f"d#{k}" for k in range(len(pieces))]
    assert {p.label for p in pieces} == {"pos"}
