"""MXFP4 weights (the OCP microscaling format GPT-OSS's hub checkpoints store their experts in),
dequantized as the checkpoint is read, so the model loads them as any other weight.

A weight W [..., R, C] (R output features, C inputs) is stored as two tensors:
- ``<name>_blocks`` [..., R, C/32, 16] uint8: 32 FP4 (E2M1) codes per block, two per byte, the low
  nibble first;
- ``<name>_scales`` [..., R, C/32] uint8: each block's E8M0 scale, 2^(s − 127).
Dequantized, the weight is [..., C, R]: the x · W layout the experts multiply by (``gate_up_proj``
[E, H, 2I], ``down_proj`` [E, I, H]). Every value is exact in float32 and bfloat16 (a 2-bit
mantissa times a power of two); the experts are then served at the server's dtype, not in FP4.
"""

from __future__ import annotations

from typing import Iterator

import torch

from multiscore.model_executor.tensor_pairs import joined_pairs

# The 16 E2M1 codes: sign bit, 2 exponent bits, 1 mantissa bit.
_FP4_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)
_SUFFIXES = ("_blocks", "_scales")


def dequantize_mxfp4(blocks: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """blocks [..., R, G, 16] uint8, scales [..., R, G] uint8 -> [..., G·32, R] in ``dtype``."""
    if blocks.dtype != torch.uint8 or scales.dtype != torch.uint8 or blocks.shape[:-1] != scales.shape \
            or blocks.shape[-1] != 16:
        raise ValueError(f"MXFP4 blocks [..., R, G, 16] and scales [..., R, G] of uint8 expected, got "
                         f"{tuple(blocks.shape)} {blocks.dtype} and {tuple(scales.shape)} {scales.dtype}")
    lut = torch.tensor(_FP4_VALUES)
    lead = blocks.shape[:-3]
    out = torch.empty(*lead, blocks.shape[-2] * 32, blocks.shape[-3], dtype=dtype)  # [..., C, R]
    # One leading index at a time (an expert): the int64 codes of a whole layer would take GBs.
    flat_blocks, flat_scales = blocks.reshape(-1, *blocks.shape[-3:]), scales.reshape(-1, *scales.shape[-2:])
    flat_out = out.view(-1, *out.shape[-2:])
    for i in range(flat_blocks.shape[0]):
        b = flat_blocks[i].long()  # [R, G, 16]
        values = torch.stack([lut[b & 0x0F], lut[b >> 4]], dim=-1).flatten(-2)  # [R, G, 32]
        values = torch.ldexp(values, flat_scales[i].int()[..., None] - 127)
        flat_out[i] = values.flatten(-2).t()  # [C, R]
    return out


def dequantized_tensors(tensors: Iterator[tuple[str, torch.Tensor]],
                        dtype: torch.dtype = torch.float32) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of a checkpoint with each ``X_blocks`` / ``X_scales`` pair replaced by X,
    dequantized when the second of the two is read; every other tensor passes unchanged."""
    def part_of(name: str, tensor: torch.Tensor):
        suffix = next((s for s in _SUFFIXES if name.endswith(s)), None)
        return None if suffix is None else (name[: -len(suffix)], suffix)

    return joined_pairs(tensors, _SUFFIXES, part_of, lambda blocks, scales: dequantize_mxfp4(blocks, scales, dtype),
                        "MXFP4")
