"""Training batches: fixed-length token blocks of a stream, or prompts with labelled answers;
either way in seeded batches that resume exactly where an interrupted run stopped."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from transplant.data.tokens import TokenStream

IGNORE = -100  # label of a position the loss skips (transformers' convention)


class Items(Protocol):
    def __len__(self) -> int: ...

    def batch(self, indices: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]: ...


class TokenBlocks:
    """Non-overlapping blocks of `block_size` tokens; the tail shorter than a block is dropped.
    Every token is predicted (labels = inputs)."""

    def __init__(self, stream: TokenStream, block_size: int) -> None:
        n = stream.ids.numel() // block_size
        if n == 0:
            raise ValueError(f"{stream.domain}/{stream.split} has {stream.ids.numel()} tokens, "
                             f"fewer than one block of data.block_size={block_size}")
        self.blocks = stream.ids[: n * block_size].view(n, block_size)

    def __len__(self) -> int:
        return self.blocks.size(0)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        return self.blocks[indices]


@dataclass(frozen=True)
class LabelledExamples:
    """Prompts and their answers (token ids), e.g. a text and its label word: the loss falls on
    the answer tokens only. Batches are right-padded with an attention mask."""

    prompts: list[list[int]]
    answers: list[list[int]]
    pad_id: int

    def __len__(self) -> int:
        return len(self.prompts)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = indices.tolist()
        width = max(len(self.prompts[i]) + len(self.answers[i]) for i in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full_like(ids, IGNORE)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(rows):
            prompt, answer = self.prompts[i], self.answers[i]
            end = len(prompt) + len(answer)
            ids[row, :end] = torch.tensor(prompt + answer)
            labels[row, len(prompt):end] = torch.tensor(answer)
            mask[row, :end] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class SeededBatches:
    """Shuffled batches of items, epoch after epoch, in an order fixed by (seed, epoch).

    Each epoch's permutation is drawn from its own seeded generator, so a run resumed after
    `skip` batches continues exactly where the interrupted run stopped, however often the
    trainer restarts iteration.
    """

    def __init__(self, items: Items, batch_size: int, seed: int, skip: int = 0) -> None:
        if len(items) < batch_size:
            raise ValueError(f"{len(items)} training items are fewer than one batch of "
                             f"trainer.batch_size={batch_size}")
        self.items, self.batch_size, self.seed = items, batch_size, seed
        self.epoch, self.start = divmod(skip, len(self))

    def __len__(self) -> int:
        return len(self.items) // self.batch_size  # the last partial batch is dropped

    def __iter__(self) -> Iterator[torch.Tensor | dict[str, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.items), generator=generator)
        for b in range(self.start, len(self)):
            yield self.items.batch(order[b * self.batch_size: (b + 1) * self.batch_size])
        self.epoch, self.start = self.epoch + 1, 0

    # Lightning asks loaders for these to know they resume mid-epoch. The position itself comes
    # from the resume note (`skip`): Lightning prefetches, so a loader's own count runs ahead.
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


TrainData = TokenStream | LabelledExamples


def train_loader(data: TrainData, block_size: int, batch_size: int, seed: int,
                 skip: int = 0) -> SeededBatches:
    """The training batches of a token stream (in blocks) or of labelled examples; `skip`:
    batches an interrupted run already trained on."""
    items = TokenBlocks(data, block_size) if isinstance(data, TokenStream) else data
    return SeededBatches(items, batch_size, seed, skip)
