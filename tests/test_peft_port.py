"""method=peft_port and its training path: labelled examples, every PEFT kind trains, and the
study's conditions on real (tiny) runs."""

import json

import pytest
import torch
from peft import get_peft_model

from tests.conftest import FAST
from transplant.config import OptimConfig, TrainerConfig
from transplant.models import arch_for, load_model
from transplant.surgery.peft_modules import PeftKind, peft_config
from transplant.training.data_module import IGNORE, LabelledExamples
from transplant.training.fit import fit


def test_labelled_batch_predicts_only_the_answer_tokens():
    examples = LabelledExamples([[1, 2, 3], [4]], [[7], [8, 9]], pad_id=0)
    batch = examples.batch(torch.tensor([1, 0]))
    assert batch["input_ids"].tolist() == [[4, 8, 9, 0], [1, 2, 3, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]  # padding masked
    assert batch["labels"].tolist() == [[IGNORE, 8, 9, IGNORE], [IGNORE, IGNORE, IGNORE, 7]]


def _task(tokenizer, n=32):
    """Texts whose one-token label is a function of their first letter."""
    g = torch.Generator().manual_seed(0)
    prompts, answers = [], []
    for i in range(n):
        letter = "ab"[i % 2]
        noise = "".join(chr(ord("c") + int(x)) for x in torch.randint(0, 20, (6,), generator=g))
        prompts.append(tokenizer(f"Text: {letter}{noise}\nSentiment:").input_ids)
        answers.append(tokenizer("P" if letter == "a" else "N",  # one byte token each
                                 add_special_tokens=False).input_ids)
    return LabelledExamples(prompts, answers, pad_id=0)


def _answer_loss(model, examples):
    with torch.no_grad():
        return model(**examples.batch(torch.arange(len(examples)))).loss.item()


@pytest.mark.parametrize("kind", list(PeftKind))
def test_every_peft_kind_trains_on_labelled_examples(kind):
    host, tokenizer = load_model("tiny_llama")
    model = get_peft_model(host, peft_config(kind, arch_for(host.config), r=8,
                                             virtual_tokens=4))
    examples = _task(tokenizer)
    before = _answer_loss(model, examples)
    fit(model, examples, 32, TrainerConfig(max_steps=30, batch_size=8,
                                           enable_progress_bar=False),
        OptimConfig(lr=1e-1, warmup_steps=0), seed=0)
    after = _answer_loss(model, examples)
    # The tiny random host's frozen norm and head bound how far a module can move its logits
    # (the loss floors near 4.6 from 5.7); every kind gets well below where it started.
    assert after < before - 0.3, (kind, before, after)
    frozen = [n for n, p in model.named_parameters() if p.requires_grad and "base_layer" in n]
    assert frozen == []  # only the module trained


def test_a_fresh_prefix_reads_the_running_text_of_a_seeded_document():
    from transplant.data.corpora import Document
    from transplant.methods.peft_port import text_ids

    _, tokenizer = load_model("tiny_llama")  # bytes: one token per character
    docs = [Document(str(i), t) for i, t in enumerate(["abc", "defgh", "ij"])]
    drawn = {tuple(text_ids(docs, tokenizer, 4, seed).tolist()) for seed in range(20)}
    # from each document's start, running on into the next (and from the last, the first)
    assert drawn == {tuple(ord(c) for c in s) for s in ("abcd", "defg", "ijab")}
    with pytest.raises(ValueError, match="holds 10 tokens, fewer than the prefix's 11"):
        text_ids(docs, tokenizer, 11, 0)


PORT = [*FAST, "method=peft_port", "data=movie_reviews", "method.origin.data=movie_reviews",
        "method.val_items=16", "method.test_items=32", "method.module.kind=lora"]


def test_ported_to_its_own_host_scores_exactly_as_the_origin(run, tmp_path):
    # Same host and dataset: before any destination training, the ported module is the
    # origin module, so its zero-shot predictions equal the origin's, example by example.
    metrics, run_dir = run([*PORT, "method.condition=ported"])
    assert metrics["zero_target_acc"] == metrics["origin_acc"]
    assert metrics["zero_target_n"] == metrics["origin_n"] == metrics["target_n"]
    zero = json.loads((run_dir / "docs" / "zero_target.json").read_text())
    assert len(zero["predicted"]) == metrics["target_n"]
    # The controls get the same module, the same budget and the same evaluation.
    scratch, _ = run([*PORT, "method.condition=scratch"])
    sampled, _ = run([*PORT, "method.condition=sampled"])
    for other in (scratch, sampled):
        assert other["params_trainable"] == metrics["params_trainable"]
        assert other["train_tokens"] == metrics["train_tokens"]
        assert other["target_n"] == metrics["target_n"]
    assert "zero_target_acc" not in scratch and "zero_target_acc" in sampled


def test_origin_module_is_trained_once_and_shared(run, tmp_path):
    run([*PORT, "method.condition=ported", "paths.cache=" + str(tmp_path / "c")])
    run([*PORT, "method.condition=sampled", "paths.cache=" + str(tmp_path / "c")])
    modules = [p for p in (tmp_path / "c" / "peft_modules").iterdir() if p.is_dir()]
    assert len(modules) == 1
    config = json.loads((modules[0] / "module" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert config["base_model_name_or_path"] is None  # a tiny config: no files to name
    # The origin's score follows the run's scoring options, not the first run's.
    quick, _ = run([*PORT, "method.condition=sampled", "method.test_items=8",
                    "paths.cache=" + str(tmp_path / "c")])
    assert quick["origin_n"] == 8
    longer, _ = run([*PORT, "method.condition=sampled", "seed=0", "force=true",
                     "paths.cache=" + str(tmp_path / "c")])
    assert longer["origin_n"] == 32


def test_scratch_is_the_origin_module_of_its_host_trained_once(run, tmp_path):
    # A module trained from scratch on host X and dataset D is the origin module of every
    # point that ports from (X, D): one cache entry serves both, and scores the same.
    cache = "paths.cache=" + str(tmp_path / "c")
    scratch, _ = run([*PORT, "method.condition=scratch", cache])
    ported, _ = run([*PORT, "method.condition=ported", cache])
    modules = [p for p in (tmp_path / "c" / "peft_modules").iterdir() if p.is_dir()]
    assert len(modules) == 1
    assert scratch["target_acc"] == ported["origin_acc"]  # same module, same test split
    assert scratch["train_tokens"] == ported["origin_train_tokens"] > 0
    assert scratch["params_trainable"] == ported["params_trainable"]


def test_a_destination_without_labels_or_of_other_shapes_is_refused(run):
    from transplant.config import ConfigError

    with pytest.raises(ConfigError, match="data.domain='python_docs' is invalid: expected a "
                                          "labelled task"):
        run([*PORT, "data=python_docs"])
    with pytest.raises(ConfigError, match="method.origin.model='tiny_gpt2'.*family gpt2 != "
                                          "llama"):
        run([*PORT, "method.origin.model=tiny_gpt2"])


@pytest.mark.parametrize("kind", [None, "prompt", "prefix", "lora"])
@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2"])
def test_answer_loss_from_kept_positions_equals_the_full_loss(name, kind):
    from transplant.training.lm_module import answer_loss

    host, tokenizer = load_model(name)
    model = host if kind is None else get_peft_model(
        host, peft_config(kind, arch_for(host.config), r=4, virtual_tokens=3))
    examples = _task(tokenizer, n=6)
    examples = LabelledExamples(examples.prompts, [a * (1 + i % 2) for i, a in  # 1 or 2 tokens
                                                   enumerate(examples.answers)], pad_id=0)
    batch = examples.batch(torch.arange(6))
    with torch.no_grad():
        full = model(**batch).loss
        kept = answer_loss(model, batch)
    assert torch.allclose(kept, full, atol=1e-5), (kept, full)


def test_report_pairs_ported_with_scratch_on_real_runs(run, tmp_path, capsys):
    from transplant.results.report import main

    quick = [*PORT, "method.test_items=24"]
    for condition in ("ported", "scratch"):
        for seed in (0, 1):
            _, run_dir = run([*quick, f"method.condition={condition}", f"seed={seed}"],
                             study="pp")
    study = run_dir.parent
    assert main([str(study), "--reference", "method.condition=scratch"]) == 0
    out = capsys.readouterr().out
    ported = [json.loads((study / r / "docs" / "target.json").read_text())
              for r in sorted(p.name for p in study.iterdir() if "ported" in p.name)]
    scratch = [json.loads((study / r / "docs" / "target.json").read_text())
               for r in sorted(p.name for p in study.iterdir() if "scratch" in p.name)]
    acc = [sum(p == y for p, y in zip(d["predicted"], d["labels"], strict=True)) / 24
           for d in ported + scratch]
    expected = (acc[0] + acc[1]) / 2 - (acc[2] + acc[3]) / 2
    assert f"{expected:+.4f} [" in out and "2 x 24" in out
