"""Labelled tasks (data/tasks.py) for any method: the training examples of a split, and
label-likelihood scores (accuracy, macro-F1, the majority class) with each example's prediction
kept for paired comparisons. `data.objective=task` routes training and evaluation here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transplant.atomic import write_json
from transplant.data.tasks import LabelTask
from transplant.metrics import HIGHER, Kind, Level, MetricSpec, spec
from transplant.runs import RunContext

if TYPE_CHECKING:
    from transplant.data.corpora import Document
    from transplant.training.data_module import LabelledExamples


def score_specs(prefix: str, level: Level = Level.headline) -> tuple[MetricSpec, ...]:
    """The metrics `score` writes under `prefix`; accuracy and macro-F1 at `level` (the
    majority-class accuracy one below: the data's baseline, no direction)."""
    below = Level.summary if level == Level.headline else Level.detail
    return (spec(f"{prefix}_acc", Kind.accuracy, HIGHER, level),
            spec(f"{prefix}_f1", Kind.f1, HIGHER, level),
            spec(f"{prefix}_majority_acc", Kind.accuracy, level=below),
            spec(f"{prefix}_n", Kind.count))


def task_docs(task: LabelTask, split: str, cfg: DictConfig, limit: int | None = None
              ) -> list[Document]:
    """The task's labelled documents of one split (at most `limit`)."""
    from transplant.data.corpora import load_corpus
    from transplant.data.split import split_documents

    return split_documents(load_corpus(task.corpus), cfg.data.validation_permille,
                           cfg.data.test_permille)[split][:limit]


def examples(task: LabelTask, docs: list[Document], tokenizer) -> LabelledExamples:
    """Each document's prompt and its label's words, as token ids."""
    from transplant.training.data_module import LabelledExamples

    prompts = [tokenizer(task.template.format(text=d.text)).input_ids for d in docs]
    answers = [tokenizer(task.label_words[d.label], add_special_tokens=False).input_ids
               for d in docs]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return LabelledExamples(prompts, answers, pad)


def score(model, tokenizer, task: LabelTask, cfg: DictConfig, ctx: RunContext | None,
          prefix: str, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """`<prefix>_acc`, `_f1`, `_majority_acc`, `_n` on one split; with `ctx`, each example's
    prediction goes to `<run>/docs/<prefix>.json` (paired comparisons over examples)."""
    from transplant.eval.classify import classification_metrics, classify

    docs = task_docs(task, split, cfg, limit)
    labels = [d.label for d in docs]
    predicted = classify(model, tokenizer, [d.text for d in docs], task.label_words,
                         task.template, calibration=str(cfg.eval.calibration))
    scores = classification_metrics(predicted, labels, list(task.label_words))
    if ctx is not None:
        write_json(ctx.layout.doc(prefix), {
            "domain": task.corpus, "split": split, "doc_ids": [d.id for d in docs],
            "predicted": predicted, "labels": labels})
    return {f"{prefix}_acc": scores["acc"], f"{prefix}_f1": scores["macro_f1"],
            f"{prefix}_majority_acc": scores["majority_acc"], f"{prefix}_n": scores["n"]}
