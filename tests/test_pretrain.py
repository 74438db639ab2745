import json
import shutil

import pytest
import torch

from tests.conftest import compose_cfg
from transplant.cache import CacheKeyMismatchError
from transplant.config import ConfigError
from transplant.models import load_model
from transplant.models.loading import load_tokenizer
from transplant.models.recipes import PRETRAIN_FAMILIES, ModelRecipe, init_model
from transplant.models.zoo import ZooModelMissingError
from transplant.validation import validate

TINY = ["method=pretrain", "method.recipe.tokenizer=tiny_llama", "method.recipe.hidden=32",
        "method.recipe.heads=2", "method.recipe.layers=2", "trainer.max_steps=3"]


@pytest.mark.parametrize("family", PRETRAIN_FAMILIES)
def test_recipe_builds_each_family_with_the_requested_shape(family):
    recipe = ModelRecipe(family=family, layers=3, hidden=48, heads=4, context=128)
    model = init_model(recipe, load_tokenizer("tiny_llama"), seed=0)
    config = model.config
    assert config.vocab_size == 257 and config.hidden_size == 48
    assert model.get_input_embeddings().weight.shape == (257, 48)
    out = model(input_ids=torch.tensor([[256, 1, 2, 3]])).logits
    assert out.shape == (1, 4, 257) and torch.isfinite(out).all()
    again = init_model(recipe, load_tokenizer("tiny_llama"), seed=0)
    other = init_model(recipe, load_tokenizer("tiny_llama"), seed=1)
    emb = model.get_input_embeddings().weight
    assert torch.equal(emb, again.get_input_embeddings().weight)
    assert not torch.equal(emb, other.get_input_embeddings().weight)


def test_pretrain_builds_a_zoo_model_then_reuses_it(run, tmp_path, monkeypatch):
    metrics, run_dir = run([*TINY, "method.recipe.name=z1"])
    assert metrics["model"] == "zoo/z1" and metrics["reused"] is False
    assert metrics["train_tokens"] == 3 * 2 * 32 and metrics["val_ppl_python_code"] > 1
    assert metrics["mix_python_code_share"] == pytest.approx(0.5, abs=0.01)  # the mix drawn
    zoo = tmp_path / "out" / "cache" / "zoo" / "z1"
    assert json.loads((zoo / "key.json").read_text())["method.recipe.hidden"] == 32
    # Addressable as an ordinary model afterwards, with the weights that were trained.
    monkeypatch.setenv("TRANSPLANT_CACHE", str(tmp_path / "out" / "cache"))
    model, _ = load_model("zoo/z1")
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    again, _ = run([*TINY, "method.recipe.name=z1", "force=true"])
    assert again["reused"] is True and again["target_ppl"] == metrics["target_ppl"]


def test_a_done_pretrain_run_whose_zoo_model_is_gone_rebuilds_it(run, tmp_path, caplog):
    """A restored archive or a new machine has the run record but not the cache; the log
    says so once (the record is checked again once claimed, silently)."""
    metrics, _ = run([*TINY, "method.recipe.name=z1"])
    zoo = tmp_path / "out" / "cache" / "zoo" / "z1"
    weights = (zoo / "model.safetensors").read_bytes()
    assert run([*TINY, "method.recipe.name=z1"])[0] is None  # there: skipped
    shutil.rmtree(tmp_path / "out" / "cache")
    with caplog.at_level("INFO", logger="transplant"):
        again, _ = run([*TINY, "method.recipe.name=z1"])
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records if "rerun" in
            r.getMessage()] == [f"done, but {zoo} is gone"]
    assert again is not None and again["reused"] is False  # built again, bit for bit
    assert (zoo / "model.safetensors").read_bytes() == weights
    assert again["target_ppl"] == metrics["target_ppl"]


def test_a_done_pretrain_run_whose_zoo_model_has_other_bytes_scores_them_again(run, tmp_path):
    """Another machine's rebuild (other floating-point kernels) puts other weights under the
    same key: the restored record no longer describes the model there, so the run scores it
    again."""
    import hashlib

    from safetensors.torch import load_file, save_file

    metrics, _ = run([*TINY, "method.recipe.name=z1"])
    weights = tmp_path / "out" / "cache" / "zoo" / "z1" / "model.safetensors"
    assert metrics["product_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert run([*TINY, "method.recipe.name=z1"])[0] is None  # the same file: skipped
    tensors = load_file(weights)
    name = next(k for k in tensors if k.endswith("mlp.down_proj.weight"))
    tensors[name] = tensors[name] * 1.5  # another build's bytes, same key
    save_file(tensors, weights, metadata={"format": "pt"})
    again, _ = run([*TINY, "method.recipe.name=z1"])
    assert again is not None and again["reused"] is True  # scored again, not rebuilt
    assert again["product_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert again["target_ppl"] != metrics["target_ppl"]
    assert run([*TINY, "method.recipe.name=z1"])[0] is None  # the record matches again


def test_continued_pretraining_starts_from_the_init_models_weights(run, tmp_path,
                                                                  monkeypatch):
    # From tiny_llama (seed 0): the zoo entry has its shape and tokenizer, not the recipe's,
    # and its weights moved away from the init's by training.
    metrics, _ = run([*TINY, "method.recipe.name=sib", "method.recipe.init=tiny_llama",
                      "method.recipe.corpora=[python_docs]"])
    assert metrics["reused"] is False and metrics["train_tokens"] == 3 * 2 * 32
    monkeypatch.setenv("TRANSPLANT_CACHE", str(tmp_path / "out" / "cache"))
    sibling, _ = load_model("zoo/sib")
    init, _ = load_model("tiny_llama")
    assert sibling.config.hidden_size == init.config.hidden_size == 64  # not the recipe's 32
    moved = [n for n, p in init.named_parameters()
             if not torch.equal(p, sibling.get_parameter(n))]
    assert moved and len(moved) == len(list(init.named_parameters()))  # every weight trained
    key = json.loads((tmp_path / "out" / "cache" / "zoo" / "sib" / "key.json").read_text())
    assert key["init"]["model.name"] == "tiny_llama"


def test_the_mix_actually_drawn_is_measured_and_short_shares_warned(tmp_path, caplog):
    # fortunes' train split is small (~72k bytes; the tiny tokenizer reads bytes): asked for
    # half of a 200k-token budget it falls short, and the mix says what the model really sees.
    from transplant.data.corpora import CorpusUnavailableError, load_corpus
    from transplant.methods.pretrain import mixed_stream
    from transplant.runs import RunContext

    try:
        load_corpus("fortunes")
    except CorpusUnavailableError:
        pytest.skip("Debian fortunes-min not installed")
    cfg = compose_cfg(["data=fortunes"])
    ctx = RunContext(tmp_path, tmp_path / "cache")
    with caplog.at_level("WARNING", logger="transplant"):
        stream, mix = mixed_stream(cfg, ctx, ["python_code", "fortunes"], "train",
                                   load_tokenizer("tiny_llama"), 200_000)
    code, fortunes = mix["mix_python_code_tokens"], mix["mix_fortunes_tokens"]
    assert code == 100_000 and fortunes < 100_000 and stream.n_predicted == code + fortunes
    assert mix["mix_fortunes_share"] == pytest.approx(fortunes / (code + fortunes))
    assert mix["mix_epochs"] == pytest.approx(200_000 / (code + fortunes))
    assert "corpus fortunes supplies" in caplog.text and "it is read" in caplog.text


def test_a_zoo_name_never_means_two_recipes(run):
    run([*TINY, "method.recipe.name=z2"])
    with pytest.raises(CacheKeyMismatchError,
                       match=r"another recipe \(method.recipe.hidden: 32 != 64\)"):
        run([*TINY, "method.recipe.name=z2", "method.recipe.hidden=64"])


def test_missing_zoo_model_says_how_to_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSPLANT_CACHE", str(tmp_path))
    with pytest.raises(ZooModelMissingError, match="method.recipe.name=nope"):
        load_model("zoo/nope")


@pytest.mark.parametrize("override,message", [
    ("method.recipe.name=unnamed", "method.recipe.name='unnamed' is invalid"),
    ("method.recipe.family=bert", "method.recipe.family='bert' is invalid: expected one of"),
    ("method.recipe.heads=3", "method.recipe.heads=3 is invalid: expected a divisor of "
                              "method.recipe.hidden=32"),
    ("method.recipe.corpora=[klingon]", "method.recipe.corpora=['klingon'] is invalid"),
    ("eval.window=1024", "eval.window=1024 is invalid: expected at most method.recipe.context"),
])
def test_bad_recipe_names_the_key(override, message):
    cfg = compose_cfg([*TINY, "method.recipe.name=ok", override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert message in str(err.value)
