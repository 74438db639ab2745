"""Zero-shot classification by label likelihood: the label whose words the model finds most
likely after a prompt wins. No training, no decoding; label words may span several tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from transplant.models.logits import logits_at


@torch.no_grad()
def label_scores(model: nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                 label_words: Sequence[str], batch_size: int = 16,
                 keep_positions: bool = True, by_length: bool = True) -> torch.Tensor:
    """(n_prompts, n_labels) summed log-probability of each label's tokens after each prompt.
    `keep_positions=False` computes the head at every position and `by_length=False` batches
    prompts in their own order (bench/label_scoring.py's baselines)."""
    label_ids = [tokenizer(w, add_special_tokens=False).input_ids for w in label_words]
    encoded = [tokenizer(p, add_special_tokens=True).input_ids for p in prompts]
    if all(len(ids) == 1 for ids in label_ids):
        return _single_token_scores(model, tokenizer, encoded, [i[0] for i in label_ids],
                                    batch_size, keep_positions, by_length)
    items = [(p + w, len(p)) for p in encoded for w in label_ids]
    scores = torch.empty(len(items))
    for rows in _batches([len(seq) for seq, _ in items], batch_size, by_length):
        chunk = [items[r] for r in rows]
        logits = _forward(model, tokenizer, [seq for seq, _ in chunk])
        logp = torch.log_softmax(logits.float(), -1)
        for i, (row, (seq, n_prompt)) in enumerate(zip(rows, chunk, strict=True)):
            positions = torch.arange(n_prompt - 1, len(seq) - 1)
            scores[row] = logp[i, positions, torch.tensor(seq[n_prompt:])].sum()
    return scores.view(len(prompts), len(label_words))


def _batches(lengths: Sequence[int], batch_size: int, by_length: bool) -> list[list[int]]:
    """Indices in batches, of similar lengths when `by_length`: right-padding a batch to its
    longest member then wastes little (the graft study's 1,796 test tweets: 119k padded tokens
    in their own order, 71k sorted, 70k unpadded)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__) if by_length else \
        list(range(len(lengths)))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _single_token_scores(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
                         encoded: list[list[int]], label_ids: list[int],
                         batch_size: int, keep_positions: bool, by_length: bool
                         ) -> torch.Tensor:
    """One forward per prompt: with one-token labels, all of them are read off the logits at
    the prompt's last position (a causal model's earlier positions ignore what follows)."""
    out = torch.empty(len(encoded), len(label_ids))
    for rows in _batches([len(seq) for seq in encoded], batch_size, by_length):
        chunk = [encoded[r] for r in rows]
        last = [len(seq) - 1 for seq in chunk]
        keep = sorted(set(last))  # the head runs at these positions only
        logits = _forward(model, tokenizer, chunk, keep if keep_positions else None)
        logits = logits if keep_positions else logits[:, keep]
        column = torch.tensor([keep.index(p) for p in last])
        logp = torch.log_softmax(logits[torch.arange(len(chunk)), column].float(), -1)
        out[rows] = logp[:, label_ids].cpu()
    return out


def _forward(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
             sequences: list[list[int]], keep: list[int] | None = None) -> torch.Tensor:
    """Logits of token sequences of unequal length, right-padded into one batch: at every
    position, or (`keep`, sorted) only at these positions (models/logits.py)."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(sequences), max(map(len, sequences))), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
    ids, mask = ids.to(device), mask.to(device)
    if keep is not None:
        return logits_at(model, ids, mask, torch.tensor(keep))
    logits = model(input_ids=ids, attention_mask=mask).logits
    return logits[:, -ids.size(1):]  # prompt tuning prepends its virtual tokens' logits


CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021's content-free inputs


def classify(model: nn.Module, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
             label_words: dict[str, str], template: str, calibration: str = "none"
             ) -> list[str]:
    """The most likely label of each text (`label_words`: label -> its words; `template`: the
    prompt, with {text}; a task's own are in data/tasks.py). `calibration="contextual"` (Zhao
    et al. 2021, "Calibrate Before Use") divides each label's probability by its probability
    after content-free inputs, removing the model's prior preference for some label words."""
    names = list(label_words)
    words = [label_words[n] for n in names]
    scores = label_scores(model, tokenizer, [template.format(text=t) for t in texts], words)
    if calibration == "contextual":
        free = label_scores(model, tokenizer, [template.format(text=t) for t in CONTENT_FREE],
                            words)
        prior = torch.log_softmax(free, -1).exp().mean(0).log()  # mean p over the inputs
        scores = torch.log_softmax(scores, -1) - prior
    elif calibration != "none":
        raise ValueError(f"calibration {calibration!r}: expected none or contextual")
    return [names[i] for i in scores.argmax(-1).tolist()]


def classification_metrics(predicted: Sequence[str], labels: Sequence[str],
                           classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 over `classes` (F1 = 0 for a class never predicted nor present),
    and the accuracy of the best constant answer on these labels (the majority class)."""
    n = len(labels)
    accuracy = sum(p == y for p, y in zip(predicted, labels, strict=True)) / n
    f1s = []
    for c in classes:
        tp = sum(p == c and y == c for p, y in zip(predicted, labels, strict=True))
        n_pred, n_true = sum(p == c for p in predicted), sum(y == c for y in labels)
        f1s.append(2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0)
    majority = max(sum(y == c for y in labels) for c in classes) / n
    return {"acc": accuracy, "macro_f1": sum(f1s) / len(f1s), "majority_acc": majority, "n": n}

