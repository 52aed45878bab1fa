"""Dynamic per-token activation quantization (compressed-tensors' W8A8 schemes), computed as a
quantize-dequantize before a product (``Linear.input_quant``): what the checkpoint's authors measured,
with the products themselves in the server's dtype.

Per row of x (or per group of a row's columns, compressed-tensors' ``group`` strategy): s = max |x|
(0 included) / (range / 2), the range 896 for FP8 e4m3 (±448) and 255 for
int8 (-128..127); x → clamp(x / s) rounded to FP8 (or to an integer) → times s, all in x's dtype (a zero
row's scale is the dtype's eps), as compressed-tensors' forward computes it.

BitNet's (kind "bitnet", model_executor/bitnet.py): s = 127 / max |x| (the max at least 1e-5), x →
clamp(round(x · s), -128, 127) / s, in float32, as transformers' BitNet layers compute it.
"""

from __future__ import annotations

from typing import Optional

import torch

# quantization type -> (q_min, q_max) of its 8-bit values
RANGES = {"float": (-448.0, 448.0), "int": (-128.0, 127.0)}


def fake_quantize_per_token(x: torch.Tensor, kind: str, group: Optional[int] = None) -> torch.Tensor:
    """x [..., C] quantized to 8 bits per row (``kind`` "float": FP8 e4m3, "int": int8), or per ``group``
    of a row's columns; "bitnet": BitNet's int8), and back, in x's dtype."""
    if kind == "bitnet":
        return _bitnet_int8(x)
    if group is not None:  # [..., C / group, group]: each group its own scale
        return _fake_quantize(x.unflatten(-1, (x.shape[-1] // group, group)), kind).flatten(-2)
    return _fake_quantize(x, kind)


def _fake_quantize(x: torch.Tensor, kind: str) -> torch.Tensor:
    """x [..., C]: each row by its own scale."""
    q_min, q_max = RANGES[kind]
    # compressed-tensors' max(|min(x, 0)|, max(x, 0)) is max |x|, to the bit: one pass instead of three
    scale = x.abs().amax(dim=-1, keepdim=True) / ((q_max - q_min) / 2)  # [..., 1]
    scale = torch.where(scale == 0, torch.tensor(torch.finfo(scale.dtype).eps, dtype=scale.dtype, device=x.device), scale)
    scaled = torch.clamp(x / scale, q_min, q_max)
    rounded = scaled.to(torch.float8_e4m3fn).to(x.dtype) if kind == "float" else torch.round(scaled)
    return rounded.to(scale.dtype) * scale


def _bitnet_int8(x: torch.Tensor) -> torch.Tensor:
    """x [..., C]: each row to BitNet's int8 and back."""
    rows = x.float()
    scale = 127.0 / rows.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)  # [..., 1]
    return ((rows * scale).round().clamp(-128, 127) / scale).to(x.dtype)
