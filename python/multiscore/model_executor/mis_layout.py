"""Multi-item scoring (MIS) layout: packing, positions and read-out rows.

A packed MIS sequence is ``query D item_1 D item_2 D ... item_N D`` (DESIGN.md §4):
- positions restart per item: query ``0..q-1``, item token t (1-based) ``q-1+t``, delimiters ``q-1``;
- each item token sees the whole query and the earlier tokens of its own item; a delimiter sees
  only the query; the read-out row of an item is its last token (the last query token if empty).

Item boundaries always come from ``item_lens`` (explicit metadata), never from scanning ids for D.
Everything here is vectorised tensor code: no Python loop over tokens or items.
"""

from __future__ import annotations

import torch


def pack_mis(query_ids: list[int], items_ids: list[list[int]], delimiter: int) -> list[int]:
    packed = list(query_ids)
    for item in items_ids:
        packed.append(delimiter)
        packed.extend(item)
    packed.append(delimiter)
    return packed


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
