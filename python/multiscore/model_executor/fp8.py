"""Block-scaled FP8 weights (``quantization_config.quant_method: "fp8"``: DeepSeek-V3 / R1, Kimi K2, the
Qwen3 ``-FP8`` checkpoints, ...), dequantized as the checkpoint is read, so the model loads them as any
other weight and serves them at the server's dtype.

A weight W [..., R, C] is stored as two tensors:
- ``<name>.weight`` [..., R, C] float8_e4m3fn;
- ``<name>.weight_scale_inv`` [..., ⌈R / bm⌉, ⌈C / bn⌉] float32: one multiplier per block of
  ``weight_block_size`` [bm, bn] (the last blocks of a row or column cut short; a single value for a
  checkpoint without blocks).
W = fp8 · its block's multiplier, computed in float32 (as transformers dequantizes FP8 on a CPU).
Tensors not in FP8 (embeddings, norms, the router, the LM head) pass unchanged; activation scales (a
static activation scheme's) have no use once the weights are dequantized, and are dropped.
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch

from multiscore.model_executor.tensor_pairs import joined_pairs

_SCALE_SUFFIX = "_scale_inv"
_ACTIVATION_SCALES = (".input_scale", ".activation_scale")
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
# quantization_config.fmt as checkpoints write it (DeepSeek-V3: "e4m3"; MiniMax-M2: "float8_e4m3fn")
_FORMATS = ("e4m3", "e5m2", "float8_e4m3fn", "float8_e5m2")


def dequantize_fp8(weight: torch.Tensor, scale_inv: torch.Tensor, block: Optional[tuple[int, int]]) -> torch.Tensor:
    """weight [..., R, C] FP8, scale_inv [..., ⌈R/bm⌉, ⌈C/bn⌉] (or one value) -> [..., R, C] float32."""
    R, C = weight.shape[-2:]
    values = weight.to(torch.float32)
    scale = scale_inv.to(torch.float32)
    if scale.numel() == 1:
        return values * scale.reshape(())
    if block is None:
        raise ValueError(f"a scale grid {tuple(scale.shape)} without weight_block_size in the quantization config")
    bm, bn = block
    grid = (*weight.shape[:-2], -(-R // bm), -(-C // bn))
    if tuple(scale.shape) != grid:
        raise ValueError(f"weight {tuple(weight.shape)} in blocks of {bm}x{bn} needs scales {grid}, "
                         f"got {tuple(scale.shape)}")
    per_element = scale.repeat_interleave(bm, dim=-2)[..., :R, :].repeat_interleave(bn, dim=-1)[..., :C]  # [..., R, C]
    return values * per_element


def fp8_dequantized_tensors(tensors: Iterator[tuple[str, torch.Tensor]],
                            block: Optional[tuple[int, int]]) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) of a checkpoint with each FP8 ``X.weight`` and its ``X.weight_scale_inv`` replaced by
    X.weight dequantized (when the second of the two is read); every other tensor passes unchanged."""
    def part_of(name: str, tensor: torch.Tensor):
        if name.endswith(_SCALE_SUFFIX):
            return name[: -len(_SCALE_SUFFIX)], _SCALE_SUFFIX
        return (name, "") if tensor.dtype in FP8_DTYPES else None

    kept = ((name, tensor) for name, tensor in tensors if not name.endswith(_ACTIVATION_SCALES))
    return joined_pairs(kept, ("", _SCALE_SUFFIX), part_of, lambda weight, scale: dequantize_fp8(weight, scale, block),
                        "FP8")


def quantization_setting(quantization_config, key: str, default=None):
    """One value of a ``quantization_config``, whether the config left it a dict or transformers made it an object."""
    if isinstance(quantization_config, dict):
        return quantization_config.get(key, default)
    return getattr(quantization_config, key, default)


def fp8_block(quantization_config) -> Optional[tuple[int, int]]:
    """The config's ``weight_block_size`` [bm, bn] (None: a single scale per tensor); ValueError for an
    FP8 format other than e4m3 / e5m2 weights."""
    fmt = quantization_setting(quantization_config, "fmt") or "e4m3"
    if fmt not in _FORMATS:  # the tensors' own dtype is what is read; the name is checked
        raise ValueError(f"FP8 format {fmt!r} is not supported (e4m3 or e5m2 weights)")
    block = quantization_setting(quantization_config, "weight_block_size")
    if block is None:
        return None
    if len(block) != 2 or min(block) < 1:
        raise ValueError(f"weight_block_size {block!r}: two positive block sides expected")
    return int(block[0]), int(block[1])
