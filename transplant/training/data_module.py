"""Fixed-length token blocks from a token stream, shuffled with a seed."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

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


def train_loader(stream: TokenStream, block_size: int, batch_size: int, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(TokenBlocks(stream, block_size), batch_size=batch_size, shuffle=True,
                      drop_last=True, generator=generator)
