"""ALiBi (Press et al.): each head adds slope_h · (the key's position) to every score (BLOOM, Falcon-RW;
a query's own position would only shift its row, which softmax ignores).

Served as extra dimensions of q and k, so every attention path (runs, both MIS parts, cached prefixes, read
rows) computes the bias with no change to a backend: with the key position p = 256·hi + lo,

    q' = [q · scale, 256·s_hi, s_hi, 256·s_lo, s_lo, 0, 0, 0]     (per head; s_hi + s_lo = slope_h)
    k' = [k,         hi,       lo,   hi,       lo,   0, 0, 0]

attended with scale 1, so q'·k' = scale · q·k + slope_h · p. hi and lo are integers below 256 and the slope is
split into two bf16-exact parts, so in bf16 too the bias is the fp32 slope times the position, to fp32
accumulation (transformers rounds each bias to the model's dtype instead). v gets zeros in those dimensions
and the output drops them. ``ALIBI_DIMS`` = 8 keeps the head width a multiple of 8.

MIS rows carry their single-item positions, so an item token's biases are as when the item is scored alone.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import nn

ALIBI_DIMS = 8
MAX_POSITIONS = 256 * 256  # hi stays below 256


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """[num_heads] float32: the geometric slopes of the paper (and BLOOM's), 2^(-8/n), 2^(-16/n), ... for the
    largest power of two n <= num_heads, then every other slope of 2n's sequence for the remaining heads."""
    closest = 2 ** math.floor(math.log2(num_heads))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
    slopes = base ** torch.arange(1, 1 + closest, dtype=torch.float32)
    if closest != num_heads:
        extra_base = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
        remaining = min(closest, num_heads - closest)
        slopes = torch.cat([slopes, extra_base ** torch.arange(1, 1 + 2 * remaining, 2, dtype=torch.float32)])
    return slopes


def query_dims(slopes: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """slopes [H] float32 -> each head's extra query dimensions [H, ALIBI_DIMS] in ``dtype``."""
    s_hi = slopes.to(torch.bfloat16).float()  # the slope's leading 8 bits: exact in bf16 (and in fp32)
    s_lo = slopes - s_hi
    out = torch.zeros(len(slopes), ALIBI_DIMS)
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = 256 * s_hi, s_hi, 256 * s_lo, s_lo
    return out.to(dtype)


def key_dims(positions: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """positions [T] -> every key's extra dimensions [T, 1, ALIBI_DIMS] in ``dtype``."""
    if len(positions) and int(positions.max()) >= MAX_POSITIONS:
        raise ValueError(f"ALiBi is served for positions below {MAX_POSITIONS}")
    hi, lo = (positions // 256).float(), (positions % 256).float()
    out = torch.zeros(len(positions), 1, ALIBI_DIMS, device=positions.device)
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2], out[:, 0, 3] = hi, lo, hi, lo
    return out.to(dtype)


def with_alibi(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, q_dims: torch.Tensor,
               k_dims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q [T, Hq, D], k / v [T, Hkv, D] -> (q', k', v') [T, H, D + ALIBI_DIMS], to attend with scale 1.
    ``q_dims`` [Hq, ALIBI_DIMS] (query_dims), ``k_dims`` [T, 1, ALIBI_DIMS] (key_dims)."""
    T = q.shape[0]
    q = torch.cat([q * scale, q_dims.expand(T, -1, -1)], dim=-1)
    k = torch.cat([k, k_dims.expand(-1, k.shape[1], -1)], dim=-1)
    v = torch.cat([v, v.new_zeros(T, v.shape[1], ALIBI_DIMS)], dim=-1)
    return q, k, v


class Alibi:
    """One attention layer's ALiBi: its slopes [heads] (float32, derived from the config, not a weight) and, per
    dtype and device, their query dimensions."""

    def __init__(self, slopes: torch.Tensor) -> None:
        self.slopes = slopes
        self._q_dims: dict = {}  # (dtype, device) -> query_dims [heads, ALIBI_DIMS]

    def attend(self, attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, k_dims: torch.Tensor,
               layer: int) -> torch.Tensor:
        """q [T, Hq, D], k / v [T, Hkv, D], ``k_dims`` (key_dims) -> attention(q, k, v) with the biases [T, Hq, D]."""
        q_dims = self._q_dims.get((q.dtype, q.device))
        if q_dims is None:
            q_dims = self._q_dims[(q.dtype, q.device)] = query_dims(self.slopes, q.dtype).to(q.device)
        q, k, v = with_alibi(q, k, v, scale, q_dims, k_dims)
        return attention(q, k, v, 1.0, layer=layer)[..., : q.shape[-1] - ALIBI_DIMS]


def run_alibi_blocks(x: torch.Tensor, positions: torch.Tensor, blocks: nn.ModuleList, attention,
                     keep_rows: Optional[torch.Tensor], final_norm: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """An ALiBi body's layers: x [T, H] (embedded), positions [T] -> ``final_norm`` of the last states at
    ``keep_rows`` [R, H] ([T, H] for None); each block is called as block(x, attention, key_dims)."""
    k_dims = key_dims(positions, x.dtype)  # [T, 1, ALIBI_DIMS]
    for block in blocks:
        x = block(x, attention, k_dims)
    if keep_rows is not None:
        x = x.index_select(0, keep_rows)
    return final_norm(x)
