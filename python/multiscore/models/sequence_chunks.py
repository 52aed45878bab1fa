"""Sequences of a packed batch, padded in chunks of similar length: for encoders whose attention
adds a term per (query, key) position pair that no fused kernel takes (DeBERTa's disentangled
terms, MPNet's relative bias), so that each chunk's [b, H, L, L] scores are built explicitly,
and no O(T²) mask over the whole packed batch is."""

from __future__ import annotations

import torch

_SEQS_PER_CHUNK = 16


def sequence_chunks(starts: list[int], lens: list[int], device: torch.device):
    """Sequences sorted by length, _SEQS_PER_CHUNK at a time -> (index [b, L], valid [b, L]) each;
    pad slots repeat the sequence's first row."""
    order = sorted(range(len(lens)), key=lambda i: lens[i])
    for c in range(0, len(order), _SEQS_PER_CHUNK):
        ids = order[c : c + _SEQS_PER_CHUNK]
        length = max(lens[i] for i in ids)
        slot = torch.arange(length)
        n = torch.tensor([lens[i] for i in ids])
        valid = slot[None, :] < n[:, None]
        index = torch.tensor([starts[i] for i in ids])[:, None] + torch.where(valid, slot[None, :], 0)
        yield index.to(device), valid.to(device)
