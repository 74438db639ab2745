"""Perplexity and bits per byte over a whole token stream (DESIGN §6).

perplexity = exp(sum of token NLL / number of predicted tokens), never a mean of per-batch
perplexities. Long streams are scored with a sliding window: the first window reads tokens
[0, window) and scores targets 1..window-1; each next window ends `stride` tokens later, reads
the `window` tokens before its end and scores only its last `stride` targets. Every token after
the first is predicted exactly once, with at least `window - stride` tokens of context, and
every forward pass has the same length. stride < window, so every target has context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from transplant.data.tokens import TokenStream
from transplant.models.logits import logits_at


@dataclass(frozen=True)
class Window:
    begin: int  # first input position
    end: int  # one past the last input position
    first_target: int  # first position scored in this window (absolute)


def sliding_windows(n_tokens: int, window: int, stride: int) -> list[Window]:
    """Windows covering positions 1..n_tokens-1 as targets, each exactly once (positions a
    stream marks unscored, such as document separators, are then masked)."""
    if not 0 < stride < window:
        raise ValueError(f"eval.stride must be in 1..window-1 ({window - 1}), got {stride}: "
                         "each window needs at least one token of context")
    end = min(window, n_tokens)
    out = [Window(0, end, 1)]
    while end < n_tokens:
        new_end = min(end + stride, n_tokens)
        out.append(Window(max(0, new_end - window), new_end, end))
        end = new_end
    return out


@dataclass(frozen=True)
class PerplexityResult:
    nll_sum: float  # nats
    n_predicted: int
    n_bytes: int
    window: int
    stride: int
    # Per document of the stream (in its order): summed NLL and predicted tokens, so that
    # intervals can be bootstrapped over documents.
    doc_nll: tuple[float, ...] = ()
    doc_tokens: tuple[int, ...] = ()

    @property
    def nll(self) -> float:
        return self.nll_sum / self.n_predicted

    @property
    def ppl(self) -> float:
        return math.exp(self.nll)

    @property
    def bpb(self) -> float:
        return self.nll_sum / (math.log(2) * self.n_bytes)

    def as_metrics(self, prefix: str) -> dict[str, float | int]:
        return {f"{prefix}_ppl": self.ppl, f"{prefix}_nll": self.nll, f"{prefix}_bpb": self.bpb,
                f"{prefix}_tokens": self.n_predicted, f"{prefix}_bytes": self.n_bytes,
                f"{prefix}_window": self.window, f"{prefix}_stride": self.stride}


@torch.no_grad()
def perplexity(model: nn.Module, stream: TokenStream, window: int, stride: int,
               batch_size: int = 8, progress: bool = True) -> PerplexityResult:
    """Score every predicted token of `stream` once; see the module docstring for the protocol."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = stream.ids
    windows = sliding_windows(ids.numel(), window, stride)
    doc_of = stream.doc_index()
    n_docs = int(doc_of[-1]) + 1
    doc_nll = torch.zeros(n_docs, dtype=torch.float64)
    doc_tokens = torch.zeros(n_docs, dtype=torch.int64)
    # Windows of equal length batch together (all of them, unless the stream is shorter).
    groups: dict[int, list[Window]] = {}
    for w in windows:
        groups.setdefault(w.end - w.begin, []).append(w)
    batches = [(g[i:i + batch_size]) for g in groups.values() for i in range(0, len(g), batch_size)]
    desc = f"ppl {stream.domain}/{stream.split}"
    for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
        inputs = torch.stack([ids[w.begin:w.end] for w in batch]).to(device)
        # Logits only from the first column any row scores: a window's head is most of a small
        # model's forward, and all but the first window score only their last `stride` targets.
        first = min(w.first_target - w.begin for w in batch) - 1  # column predicting it
        targets = inputs[:, first + 1:].clone()
        for row, w in enumerate(batch):
            targets[row, : w.first_target - w.begin - 1 - first] = -100  # an earlier window's
            unscored = ~stream.scored[w.begin + first + 1:w.end].to(device)  # separators
            targets[row][unscored] = -100
        columns = torch.arange(first, inputs.size(1) - 1)
        logits = logits_at(model, inputs, None, columns).float()
        nll = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                          targets.reshape(-1), ignore_index=-100,
                                          reduction="none").double().cpu()
        keep = (targets != -100).reshape(-1).cpu()
        docs = torch.cat([doc_of[w.begin + first + 1:w.end] for w in batch])
        doc_nll.index_add_(0, docs[keep], nll[keep])
        doc_tokens.index_add_(0, docs[keep], torch.ones_like(docs[keep]))
    model.train(was_training)
    n_scored = int(doc_tokens.sum())
    assert n_scored == stream.n_predicted, (n_scored, stream.n_predicted)
    return PerplexityResult(float(doc_nll.sum()), n_scored, stream.n_bytes, window, stride,
                            tuple(doc_nll.tolist()), tuple(doc_tokens.tolist()))
