"""Multi-item scoring (MIS) layout: packing, positions, read-out rows, segments and masks.

A packed MIS sequence is ``query D item_1 D item_2 D ... item_N D`` (DESIGN.md §4):
- positions restart per item: query ``0..q-1``, item token t (1-based) ``q-1+t``, delimiters ``q-1``;
- each item token sees the whole query and the earlier tokens of its own item; a delimiter sees
  only the query; the read-out row of an item is its last token (the last query token if empty).

Item boundaries always come from ``item_lens`` (explicit metadata), never from scanning ids for D.
Everything here is vectorised tensor code: no Python loop over tokens or items.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def pack_mis(query_ids: list[int], items_ids: list[list[int]], delimiter: int) -> list[int]:
    packed = list(query_ids)
    for item in items_ids:
        packed.append(delimiter)
        packed.extend(item)
    packed.append(delimiter)
    return packed


def mis_packed_len(query_len: int, item_lens: list[int]) -> int:
    return query_len + sum(item_lens) + len(item_lens) + 1


@dataclass
class MisSegments:
    """The tail of an MIS sequence cut into segments ``[D, item tokens]``; the last is the final ``[D]``.

    Local row indices (0 = first query token). ``S = N + 1`` segments, padded to ``max_len``.
    """

    index: torch.Tensor  # [S, max_len] local row of each segment slot (pad slots repeat the segment's D row)
    valid: torch.Tensor  # [S, max_len] bool, slot holds a real token
    own_mask: torch.Tensor  # [S, max_len, max_len] bool, which slots of its own segment a slot attends to


def mis_positions(query_len: int, item_lens: torch.Tensor) -> torch.Tensor:
    """item_lens [N] -> positions [q + sum(L) + N + 1]."""
    q = query_len
    seg_lens = torch.cat([item_lens + 1, item_lens.new_ones(1)])  # [N+1] = D + item; final D alone
    seg_starts = torch.cumsum(seg_lens, 0) - seg_lens  # [N+1] offset of each D after the query
    tail = int(seg_lens.sum())
    seg_id = torch.repeat_interleave(torch.arange(len(seg_lens)), seg_lens)  # [tail]
    offset_in_seg = torch.arange(tail) - seg_starts[seg_id]  # 0 at D, 1..L inside the item
    tail_pos = (q - 1 + offset_in_seg).clamp_min(0)  # an empty query puts D at 0, not -1
    return torch.cat([torch.arange(q), tail_pos])


def mis_readout_rows(query_len: int, item_lens: torch.Tensor) -> torch.Tensor:
    """item_lens [N] -> local read-out row of each item [N]: its last token, or the last query token."""
    q = query_len
    seg_starts = q + torch.cumsum(item_lens + 1, 0) - (item_lens + 1)  # [N] row of the D before item i
    rows = seg_starts + item_lens
    return torch.where(item_lens > 0, rows, torch.full_like(rows, q - 1))


def mis_segments(query_len: int, item_lens: torch.Tensor) -> MisSegments:
    q = query_len
    seg_lens = torch.cat([item_lens + 1, item_lens.new_ones(1)])  # [S]
    seg_starts = q + torch.cumsum(seg_lens, 0) - seg_lens  # [S] local row of each D
    max_len = int(seg_lens.max())
    slot = torch.arange(max_len)  # [max_len]
    valid = slot[None, :] < seg_lens[:, None]  # [S, max_len]
    index = seg_starts[:, None] + torch.where(valid, slot[None, :], torch.zeros_like(slot)[None, :])
    row = slot[:, None]  # [max_len, 1]
    col = slot[None, :]  # [1, max_len]
    # Item tokens (slot >= 1) see own item tokens up to themselves, never the leading D (col 0).
    own = (col <= row) & (col >= 1)  # [max_len, max_len]
    own = own[None] & valid[:, None, :] & valid[:, :, None]  # [S, max_len, max_len]
    # A delimiter sees only the query; with an empty query it sees itself so its row stays finite.
    # Pad slots see their segment's D. Neither is ever read out or attended to by anyone.
    own[:, 0, 0] = q == 0
    own = own | (~valid[:, :, None] & (col == 0)[None])
    return MisSegments(index=index, valid=valid, own_mask=own)


def dense_mis_mask(query_len: int, item_lens: list[int]) -> torch.Tensor:
    """The full [n, n] boolean MIS mask of DESIGN.md §4 (reference for tests; O(n²), never on the hot path)."""
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
