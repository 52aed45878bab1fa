"""The MIS attention mask of DESIGN.md §4, written out densely: the reference the backends and
FlashInfer's plan inputs are tested against (O(n²); never on the hot path)."""

from __future__ import annotations

import torch


def mis_packed_len(query_len: int, item_lens: list[int]) -> int:
    return query_len + sum(item_lens) + len(item_lens) + 1


def dense_mis_mask(query_len: int, item_lens: list[int]) -> torch.Tensor:
    """The full [n, n] boolean MIS mask: row i may attend to column j."""
    q = query_len
    n = mis_packed_len(q, item_lens)
    lens = torch.tensor(item_lens, dtype=torch.long)
    seg_lens = torch.cat([lens + 1, lens.new_ones(1)])
    seg_id = torch.cat([torch.full((q,), -1), torch.repeat_interleave(torch.arange(len(seg_lens)), seg_lens)])
    is_delim = torch.zeros(n, dtype=torch.bool)
    is_delim[q + torch.cumsum(seg_lens, 0) - seg_lens] = True
    idx = torch.arange(n)
    causal = idx[None, :] <= idx[:, None]
    key_is_query = (idx < q)[None, :].expand(n, n)
    same_item = (seg_id[:, None] == seg_id[None, :]) & (seg_id[:, None] >= 0) & ~is_delim[None, :] & ~is_delim[:, None]
    mask = key_is_query & (causal | (idx >= q)[:, None])
    return mask | (same_item & causal)
