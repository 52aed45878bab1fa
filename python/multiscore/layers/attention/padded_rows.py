"""Moving flat rows in and out of the padded [b, H, L, D] blocks the attention kernels read.

``index_select`` on dim 0 copies whole rows; advanced indexing (``x[index]``, ``x[bool_mask]``,
``out[rows] = ...``) walks element by element: on W1's shapes ([1857, 8, 64] bf16, 1,601 rows)
``x[index]`` took 0.45 ms against 0.15 ms for ``index_select`` (2-core Xeon, benchmark/README.md).

Blocks are views of ``[b, L, H, D]`` memory transposed to ``[b, H, L, D]``. torch's CPU flash
kernel writes its output, and its log-sum-exp, in the layout of its query, so a block's output
reads back as flat rows ``[b·L, H, D]`` without a copy.

On CPU, blocks are padded to a key length that is a multiple of 16 (``aligned_length``): torch's
flash kernel (2.13) runs such lengths 1.4-2x faster than the lengths just below them, in bf16 and
fp32 (2-core AMX Xeon: [16, 12, 44, 32] 0.82 ms, [16, 12, 48, 32] 0.48 ms; keys 250 vs 256 against
1,601 query rows 1.66 vs 1.14 ms; the number of query rows does not matter).
"""

from __future__ import annotations

from typing import Optional

import torch


_CPU_KEY_ALIGN = 16


def aligned_length(n: int, device: torch.device) -> int:
    """The padded key length of a block on ``device``: ``n`` rounded up to a multiple of 16 on CPU
    (see above), ``n`` elsewhere."""
    if device.type != "cpu":
        return n
    return -(-n // _CPU_KEY_ALIGN) * _CPU_KEY_ALIGN


def valid_positions(valid: torch.Tensor, device=None) -> Optional[torch.Tensor]:
    """[b, L] bool -> positions of the True slots in the flattened [b·L], on ``device`` (None:
    every slot is valid)."""
    if bool(valid.all()):
        return None
    return valid.reshape(-1).nonzero()[:, 0].to(device)


def key_bias(visible: torch.Tensor) -> torch.Tensor:
    """[n, L] bool (True: a key the row sees) -> [n, 1, 1, L] float32 additive bias, 0 / -inf, on its device."""
    return torch.zeros(visible.shape, device=visible.device).masked_fill(~visible, float("-inf"))[:, None, None, :]


def gather_block(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [T, H, D], index [b, L] flat rows -> [b, H, L, D] (a transposed view of [b, L, H, D] memory)."""
    b, length = index.shape
    return x.index_select(0, index.reshape(-1)).view(b, length, x.shape[1], x.shape[2]).transpose(1, 2)


def block_rows(o: torch.Tensor, positions: Optional[torch.Tensor]) -> torch.Tensor:
    """o [b, H, L, D] -> its rows [n, H, D] at ``positions`` of the flattened [b·L] (all for None)."""
    flat = o.transpose(1, 2).reshape(-1, o.shape[1], o.shape[3])  # a view when o has [b, L, H, D] memory
    return flat if positions is None else flat.index_select(0, positions)


def block_lse_rows(lse: torch.Tensor, positions: Optional[torch.Tensor]) -> torch.Tensor:
    """lse [b, H, L] -> [n, H] at ``positions`` of the flattened [b·L] (all for None)."""
    flat = lse.transpose(1, 2).reshape(-1, lse.shape[1])
    return flat if positions is None else flat.index_select(0, positions)
