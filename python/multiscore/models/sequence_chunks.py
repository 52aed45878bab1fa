"""Sequences of a packed batch, padded in chunks of similar length: for models whose attention the
backends' plans do not cover — a term per (query, key) position pair that no fused kernel takes
(DeBERTa's disentangled terms, T5's and MPNet's relative bias), or causal and bidirectional layers in
one model (BART's decoder and encoder) — so that each chunk's scores are computed on their own, and no
O(T²) mask over the whole packed batch is built."""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from multiscore.layers.attention.padded_rows import aligned_length

_SEQS_PER_CHUNK = 16


def sequence_chunks(starts: list[int], lens: list[int], device: torch.device, align_keys: bool = False):
    """Sequences sorted by length, _SEQS_PER_CHUNK at a time -> (index [b, L], valid [b, L]) each;
    pad slots repeat the sequence's first row. ``align_keys``: L padded as the torch backend pads its
    flash calls (``aligned_length``: a multiple of 16 on CPU), for chunks that go through SDPA."""
    order = sorted(range(len(lens)), key=lambda i: lens[i])
    for c in range(0, len(order), _SEQS_PER_CHUNK):
        ids = order[c : c + _SEQS_PER_CHUNK]
        length = max(lens[i] for i in ids)
        if align_keys:
            length = aligned_length(length, device)
        slot = torch.arange(length)
        n = torch.tensor([lens[i] for i in ids])
        valid = slot[None, :] < n[:, None]
        index = torch.tensor([starts[i] for i in ids])[:, None] + torch.where(valid, slot[None, :], 0)
        yield index.to(device), valid.to(device)


def attend_in_chunks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunks, scale: float, causal: bool = False,
                     bias: Optional[Callable[[int], torch.Tensor]] = None) -> torch.Tensor:
    """q/k/v [T, heads, D] -> [T, heads, D]: attention within each sequence of ``chunks`` (pad keys
    hidden; ``causal``: each query sees its own position and those before), with ``bias(L)`` [heads, L, L]
    added to the scores where given (T5's and MPNet's relative bias). q may come from other rows' states
    than k and v (BART's cross-attention: the decoder's queries, the encoder's keys), in the same layout."""
    out = torch.empty_like(q)
    for index, valid in chunks:  # index / valid [b, L]
        qc, kc, vc = (t[index].transpose(1, 2) for t in (q, k, v))  # [b, heads, L, D]
        L = index.shape[1]
        keep = valid[:, None, None, :]  # [b, 1, 1, L (keys)]
        if causal:
            keep = keep & torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
        mask = keep if bias is None else bias(L).unsqueeze(0).masked_fill(~keep, float("-inf")).to(qc.dtype)
        o = F.scaled_dot_product_attention(qc, kc, vc, attn_mask=mask, scale=scale)
        out[index[valid]] = o.transpose(1, 2)[valid]
    return out
