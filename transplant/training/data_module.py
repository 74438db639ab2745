"""Fixed-length token blocks from a token stream, in seeded batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset

from transplant.data.tokens import TokenStream


class TokenBlocks(Dataset):
    """Non-overlapping blocks of `block_size` tokens; the tail shorter than a block is dropped."""

    def __init__(self, stream: TokenStream, block_size: int) -> None:
        n = stream.ids.numel() // block_size
        if n == 0:
            raise ValueError(f"{stream.domain}/{stream.split} has {stream.ids.numel()} tokens, "
                             f"fewer than one block of data.block_size={block_size}")
        self.blocks = stream.ids[: n * block_size].view(n, block_size)

    def __len__(self) -> int:
        return self.blocks.size(0)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.blocks[i]


class BlockBatches:
    """Shuffled batches of blocks, epoch after epoch, in an order fixed by (seed, epoch).

    Each epoch's permutation is drawn from its own seeded generator, so a run resumed after
    `skip` batches continues exactly where the interrupted run stopped, however often the
    trainer restarts iteration.
    """

    def __init__(self, blocks: TokenBlocks, batch_size: int, seed: int, skip: int = 0) -> None:
        if len(blocks) < batch_size:
            raise ValueError(f"{len(blocks)} blocks are fewer than one batch of "
                             f"trainer.batch_size={batch_size}")
        self.blocks, self.batch_size, self.seed = blocks, batch_size, seed
        self.epoch, self.start = divmod(skip, len(self))

    def __len__(self) -> int:
        return len(self.blocks) // self.batch_size  # the last partial batch is dropped

    def __iter__(self) -> Iterator[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.blocks), generator=generator)
        for b in range(self.start, len(self)):
            yield self.blocks.blocks[order[b * self.batch_size: (b + 1) * self.batch_size]]
        self.epoch, self.start = self.epoch + 1, 0

    # Lightning asks loaders for these to know they resume mid-epoch. The position itself comes
    # from the resume note (`skip`): Lightning prefetches, so a loader's own count runs ahead.
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def train_loader(stream: TokenStream, block_size: int, batch_size: int, seed: int,
                 skip: int = 0) -> BlockBatches:
    """The training batches; `skip`: batches an interrupted run already trained on."""
    return BlockBatches(TokenBlocks(stream, block_size), batch_size, seed, skip)
