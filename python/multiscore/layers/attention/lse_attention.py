"""Attention that also returns the log-sum-exp of each row, so partial attentions can be merged."""

from __future__ import annotations

from typing import Optional

import torch

from multiscore.layers.attention.padded_rows import block_lse_rows, block_rows

# torch's fused CPU flash-attention kernel returns (out, logsumexp); it is private API, so the
# portable path below is the fallback (and the GPU path of this backend).
_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)

# Rows per chunk of the portable path: bounds its [rows, Lk] float32 score buffer to ~64 MB per head.
_SCORE_BUDGET = 16 * 1024 * 1024


def attention_with_lse(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float,
    key_bias: Optional[torch.Tensor] = None, softcap: Optional[float] = None, mask: Optional[torch.Tensor] = None,
):
    """q [B, Hq, Lq, D], k/v [B, Hkv, Lk, D] (Hq a multiple of Hkv: grouped-query attention)
    -> (out [B, Hq, Lq, D], lse [B, Hq, Lq] float32).

    ``causal`` aligns row i with key i (top-left). ``key_bias`` [B, 1, 1, Lk] (0 or -inf, q's
    dtype) hides padded keys; ``mask`` (bool, [B, 1, Lq or 1, Lk], True = visible) does the same
    for the soft-capped path. ``softcap`` (Gemma2): scores become ``softcap · tanh(scores / softcap)``
    before masking, which no fused kernel here does, so those calls take the portable path.
    Callers never pass Lk == 0; a row with every key hidden only through ``mask`` (out 0, lse -inf).
    """
    if softcap is None and mask is None and q.device.type == "cpu" and _FLASH_CPU is not None:
        out, lse = _FLASH_CPU(q, k, v, is_causal=causal, attn_mask=key_bias, scale=scale)
        return out, lse
    if k.shape[1] != q.shape[1]:  # the portable path's matmuls need one key head per query head
        g = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
    return _portable(q, k, v, causal, scale, key_bias, softcap, mask)


def _portable(q, k, v, causal: bool, scale: float, key_bias=None, softcap=None, mask=None):
    lq, lk = q.shape[-2], k.shape[-2]
    rows_per_chunk = max(1, _SCORE_BUDGET // max(1, lk * q.shape[0] * q.shape[1]))
    outs, lses = [], []
    for r0 in range(0, lq, rows_per_chunk):
        r1 = min(r0 + rows_per_chunk, lq)
        s = torch.matmul(q[..., r0:r1, :], k.transpose(-1, -2)).float() * scale  # [B, H, r, Lk]
        if softcap is not None:
            s = torch.tanh(s / softcap) * softcap
        if mask is not None:
            s = s.masked_fill(~(mask if mask.shape[-2] == 1 else mask[..., r0:r1, :]), float("-inf"))
        if key_bias is not None:
            s = s + key_bias.float()
        if causal:
            rows = torch.arange(r0, r1, device=q.device)[:, None]
            s = s.masked_fill(torch.arange(lk, device=q.device)[None, :] > rows, float("-inf"))
        lse = torch.logsumexp(s, -1)
        # A row whose keys are all hidden (a sliding window past the whole query) gets out 0 and
        # lse -inf, which the MIS merge weighs 0.
        finite = torch.where(torch.isneginf(lse), torch.zeros_like(lse), lse)
        outs.append(torch.matmul(torch.exp(s - finite[..., None]).to(v.dtype), v))
        lses.append(lse)
    return torch.cat(outs, -2), torch.cat(lses, -1)


def with_sinks(o: torch.Tensor, lse: torch.Tensor, sinks: torch.Tensor) -> torch.Tensor:
    """An attention output with a sink logit s in its softmax's denominator: softmax over [scores ; s]
    without the sink's column = the plain softmax's output times Σe^scores / (Σe^scores + e^s)
    = σ(lse − s). o [..., D], lse [...] float32, ``sinks`` broadcast against lse (float)."""
    return o * torch.sigmoid(lse - sinks.float()).to(o.dtype)[..., None]


def merge_item_attention(out: torch.Tensor, rows: torch.Tensor, ob: torch.Tensor, lse_b: torch.Tensor,
                         positions: Optional[torch.Tensor], oa: torch.Tensor, lse_a: torch.Tensor) -> None:
    """MIS item tokens: softmax over [query ; own item] from its two partial softmaxes, written to
    ``out[rows]``. ``ob`` [N', Hq, Lmax, D] / ``lse_b`` [N', Hq, Lmax]: the items' own blocks (the
    kernel's padded layout; ``positions``: their valid slots, None: all); ``oa`` [R, Hq, D] / ``lse_a``
    [R, Hq] float32: the same R rows against the query (lse -inf: no query, weight 0). The merge is
    ``ob + σ(lse_a − lse_b) · (oa − ob)``, one lerp. torch.compile fuses the row gather, the weight,
    the lerp and the scatter into one loop (FusedOps.mis_merge), with the same bits: at W4's shapes
    (bf16, 2-core AMX Xeon) 1.24 -> 0.44 ms a layer alone, the MIS pass 992 -> 972 ms; W1's level."""
    ob_rows, lse_rows = block_rows(ob, positions), block_lse_rows(lse_b, positions)  # [R, Hq, D], [R, Hq]
    out.index_copy_(0, rows, merge_partials(ob_rows, oa, lse_a, lse_rows))


def merge_partials(ob: torch.Tensor, oa: torch.Tensor, lse_a: torch.Tensor, lse_b: torch.Tensor) -> torch.Tensor:
    """Two partial attentions of the same rows over disjoint keys -> the attention over all of them:
    ``ob + σ(lse_a − lse_b) · (oa − ob)``. o* [R, Hq, D], lse* [R, Hq] float32 (lse_a -inf: weight 0)."""
    return torch.lerp(ob, oa, torch.sigmoid(lse_a - lse_b).to(ob.dtype)[..., None])
