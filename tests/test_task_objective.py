"""data.objective=task: any method trains on a corpus's labelled task and is scored on it."""

import json

import pytest

from tests.conftest import FAST, compose_cfg
from transplant.config import ConfigError
from transplant.validation import validate

TASK = [*FAST, "data=movie_reviews", "data.objective=task", "eval.retention=null"]


def test_zero_shot_task_score_equals_label_likelihood_computed_directly(run):
    from transplant.data.tasks import TASKS
    from transplant.eval.classify import classification_metrics, classify
    from transplant.methods.task import task_docs
    from transplant.models import load_model

    metrics, run_dir = run(["method=zero_shot", *TASK])
    model, tokenizer = load_model("tiny_llama")
    task = TASKS["movie_reviews"]
    docs = task_docs(task, "test", compose_cfg(TASK))
    predicted = classify(model, tokenizer, [d.text for d in docs], task.label_words,
                         task.template)
    expected = classification_metrics(predicted, [d.label for d in docs],
                                      list(task.label_words))
    assert metrics["target_n"] == len(docs) == expected["n"]
    assert metrics["target_acc"] == expected["acc"]
    assert metrics["target_f1"] == expected["macro_f1"]
    assert "target_ppl" not in metrics  # the task replaces the target's perplexity
    kept = json.loads((run_dir / "docs" / "target.json").read_text())
    assert kept["predicted"] == predicted


def test_full_ft_on_the_task_trains_on_labelled_examples(run):
    zero, _ = run(["method=zero_shot", *TASK])
    tuned, run_dir = run(["method=full_ft", *TASK, "trainer.max_steps=3",
                          "method.optim.lr=1e-2"])
    predicted = json.loads((run_dir / "docs" / "target.json").read_text())["predicted"]
    assert tuned["target_n"] == zero["target_n"] == len(predicted)
    # A language-modelling run of the same budget reads 3 x 2 blocks of 32 tokens; the task
    # run reads 3 x 2 prompts, each shorter or longer than a block: another data path.
    lm, _ = run(["method=full_ft", *FAST, "data=movie_reviews", "eval.retention=null",
                 "trainer.max_steps=3", "method.optim.lr=1e-2"])
    assert lm["train_tokens"] == 3 * 2 * 32 and tuned["train_tokens"] != lm["train_tokens"]


def test_task_objective_needs_a_labelled_corpus():
    cfg = compose_cfg([*FAST, "data=python_code", "data.objective=task", "method=zero_shot"])
    with pytest.raises(ConfigError, match=r"data.domain='python_code' is invalid: expected a "
                                          r"labelled task with data.objective=task: one of "
                                          r"movie_reviews, tweets"):
        validate(cfg)
