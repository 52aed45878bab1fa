"""Runs whose leading tokens come from the prefix cache (torch backend).

A plain sequence, or an MIS query, with P cached tokens has only its S new tokens in the batch.
Its rows attend to P + S keys: the cached ones (all visible: they come first) and their own,
causally. The keys are gathered from ``[batch k ; cached k]`` (the cached rows appended after the
batch's T rows), padded per call like the torch backend's other runs, under an explicit mask.
Key slot j is position j (cached keys first, in order), so a sliding window compares it with the
row's position P + i; soft-capped scores and sinks take the portable path, as elsewhere in the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from multiscore.layers.attention.lse_attention import attention_with_lse, with_sinks
from multiscore.layers.attention.padded_rows import aligned_length, block_rows, gather_block, valid_positions

_RUNS_PER_CALL = 16  # as the torch backend's plain runs


@dataclass
class PrefixedRuns:
    """Up to _RUNS_PER_CALL runs with cached prefixes, for one SDPA call."""

    index: torch.Tensor  # [b, Smax] flat rows of the new tokens (pads repeat the run's first row)
    valid: torch.Tensor  # [b, Smax] bool
    rows: torch.Tensor  # [n] = index[valid], where the outputs go
    valid_pos: Optional[torch.Tensor]  # [n] positions of the valid slots in [b·Smax]; None: all valid
    key_index: torch.Tensor  # [b, Kmax] rows of [batch k ; cached k]: the cached prefix, then the run's own rows
    mask: torch.Tensor  # [b, 1, Smax, Kmax] bool: cached keys, own keys causally; pad rows see key 0
    row_pos: torch.Tensor  # [b, Smax] position of each row (P + i)


def prefixed_run_chunks(runs: list[tuple[int, int, int, int]], device: torch.device) -> list[PrefixedRuns]:
    """runs: (first flat row, new tokens S, first cached row in [batch k ; cached k], cached tokens P)."""
    runs = sorted(runs, key=lambda r: r[1] + r[3])
    return [_chunk(runs[i : i + _RUNS_PER_CALL], device) for i in range(0, len(runs), _RUNS_PER_CALL)]


def _chunk(runs, device) -> PrefixedRuns:
    s_max = max(s for _, s, _, _ in runs)
    k_max = aligned_length(max(s + p for _, s, _, p in runs), device)  # keys past a run's own are hidden
    index = torch.empty(len(runs), s_max, dtype=torch.long)
    key_index = torch.empty(len(runs), k_max, dtype=torch.long)
    mask = torch.zeros(len(runs), 1, s_max, k_max, dtype=torch.bool)
    slot = torch.arange(s_max)
    for b, (start, s, cached_start, p) in enumerate(runs):
        index[b] = start + torch.where(slot < s, slot, 0)
        keys = torch.cat([torch.arange(cached_start, cached_start + p), torch.arange(start, start + s)])
        key_index[b] = torch.cat([keys, keys[:1].expand(k_max - len(keys))])
        mask[b, 0, :, :p] = True
        mask[b, 0, :s, p : p + s] = torch.ones(s, s, dtype=torch.bool).tril()
        mask[b, 0, s:, 0] = True  # pad rows: any visible key keeps them finite (never read)
    valid = slot[None, :] < torch.tensor([s for _, s, _, _ in runs])[:, None]
    row_pos = torch.tensor([p for _, _, _, p in runs])[:, None] + slot[None, :]
    return PrefixedRuns(index=index.to(device), valid=valid.to(device), rows=index[valid].to(device),
                        valid_pos=valid_positions(valid, device),
                        key_index=key_index.to(device), mask=mask.to(device), row_pos=row_pos.to(device))


def attend_prefixed(q: torch.Tensor, k_all: torch.Tensor, v_all: torch.Tensor, chunk: PrefixedRuns, scale: float,
                    out: torch.Tensor, softcap: Optional[float] = None, window: Optional[int] = None,
                    sinks: Optional[torch.Tensor] = None) -> None:
    """q [T, Hq, D]; k_all/v_all [T + Tc, Hkv, D]; writes the chunk's rows of ``out`` [T, Hq, D].
    ``sinks`` [Hq]: GPT-OSS's sink logits (the log-sum-exp path, as soft-capped scores)."""
    qr = gather_block(q, chunk.index)  # [b, Hq, Smax, D]
    kr, vr = (gather_block(x, chunk.key_index) for x in (k_all, v_all))  # [b, Hkv, Kmax, D]
    mask = chunk.mask
    if window is not None:  # keys more than window - 1 positions back are hidden (pad rows keep key 0)
        key_pos = torch.arange(mask.shape[-1], device=mask.device)
        near = (chunk.row_pos[:, :, None] - key_pos) < window  # [b, Smax, Kmax]
        mask = mask & (near | ~chunk.valid[:, :, None])[:, None]
    if softcap is None and sinks is None:
        o = F.scaled_dot_product_attention(qr, kr, vr, attn_mask=mask, scale=scale,
                                           enable_gqa=q.shape[1] != k_all.shape[1])
    else:
        o, lse = attention_with_lse(qr, kr, vr, causal=False, scale=scale, softcap=softcap, mask=mask)
        if sinks is not None:
            o = with_sinks(o, lse, sinks[:, None])  # lse [b, Hq, Smax]
    out.index_copy_(0, chunk.rows, block_rows(o, chunk.valid_pos))  # [n, Hq, D]
