"""compressed-tensors W8A8 and W8A16 checkpoints (``quant_method: "compressed-tensors"``, formats
``float-quantized`` / ``int-quantized`` / ``naive-quantized``: RedHatAI's ``-FP8-dynamic``, ``-FP8``,
``-quantized.w8a8`` and ``-W8A16`` releases), served as transformers with compressed-tensors computes them.

- Weights: ``X.weight`` (FP8 e4m3 or int8) and ``X.weight_scale`` (one per output channel [R, 1], one per
  tensor, or one per ``block_structure`` block: RedHatAI's ``-FP8-block``) are dequantized in float32 as
  they load: W = q · scale.
- Activations (W8A8): each quantized product's input is quantized and dequantized per token first
  (``Linear.input_quant``: layers/activation_quant.py), as compressed-tensors' forward does. Per token,
  so MIS and single-item quantize every row alike.
Only symmetric 8-bit schemes are read: dynamic activations per token or per group of a token's columns,
weights per channel, tensor or block; any other (static activation scales, weight groups, zero points,
4-bit packs, a KV-cache scheme) is refused with the reason.
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch

from multiscore.layers.activation_quant import RANGES
from multiscore.model_executor.fp8 import FP8_DTYPES, dequantize_fp8, quantization_setting
from multiscore.model_executor.tensor_pairs import joined_pairs

_SCALE = "_scale"
_DROPPED = (".weight_zero_point", ".input_zero_point")  # symmetric schemes: zeros, unused
_FORMATS = ("float-quantized", "int-quantized", "naive-quantized")


def activation_kind(quantization_config) -> Optional[tuple[str, Optional[int]]]:
    """The scheme's activation quantization: ("float" / "int", None per token or the group size of a
    token's columns), dynamic; None for weights only. ValueError for any scheme not read here (module doc)."""
    fmt = quantization_setting(quantization_config, "format")
    if fmt not in _FORMATS:
        raise ValueError(f"compressed-tensors format {fmt!r} is not supported (one of {list(_FORMATS)})")
    if quantization_setting(quantization_config, "kv_cache_scheme"):
        raise ValueError("a compressed-tensors kv_cache_scheme (quantized keys and values) is not supported")
    groups = list((quantization_setting(quantization_config, "config_groups") or {}).values())
    if len(groups) != 1:
        raise ValueError(f"compressed-tensors with {len(groups)} config groups is not supported (one group)")
    group = groups[0]
    weights, inputs = group.get("weights") or {}, group.get("input_activations")
    _check(weights, "weights", strategies=("channel", "tensor", "block"), dynamic=False)
    if group.get("output_activations"):
        raise ValueError("compressed-tensors output_activations are not supported")
    if inputs is None:
        return None
    _check(inputs, "input_activations", strategies=("token", "group"), dynamic=True)
    if inputs.get("type") != weights.get("type"):
        raise ValueError("compressed-tensors activations of another type than the weights are not supported")
    return inputs["type"], (int(inputs["group_size"]) if inputs["strategy"] == "group" else None)


def weight_block(quantization_config) -> Optional[tuple[int, int]]:
    """The weights' ``block_structure`` [rows, columns] where they are scaled per block, else None."""
    weights = list(quantization_setting(quantization_config, "config_groups").values())[0].get("weights") or {}
    block = weights.get("block_structure") if weights.get("strategy") == "block" else None
    return None if block is None else (int(block[0]), int(block[1]))


def _check(args: dict, what: str, strategies: tuple[str, ...], dynamic: bool) -> None:
    scheme = (f"{args.get('num_bits')}-bit {args.get('type')}, {args.get('strategy')}, "
              f"{'symmetric' if args.get('symmetric', True) else 'asymmetric'}, "
              f"{'dynamic' if args.get('dynamic') else 'static'}")
    strategy = args.get("strategy")
    if (args.get("num_bits") != 8 or args.get("type") not in RANGES or strategy not in strategies
            or not args.get("symmetric", True) or bool(args.get("dynamic")) is not dynamic
            or bool(args.get("group_size")) is not (strategy == "group")
            or (strategy == "block" and len(args.get("block_structure") or ()) != 2)):
        raise ValueError(f"compressed-tensors {what} quantized as {scheme} are not supported: 8-bit float or int, "
                         f"symmetric, {' or '.join(strategies)}, {'dynamic' if dynamic else 'static'}")


def dequantized_tensors(tensors: Iterator[tuple[str, torch.Tensor]], quantized: set[str],
                        block: Optional[tuple[int, int]] = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) with each 8-bit ``X.weight`` and its ``X.weight_scale`` replaced by X.weight in
    float32 (q · scale; per ``block`` of the weight where its scales are, fp8.py's dequantization); each
    such weight's name is added to ``quantized``."""
    def part_of(name: str, tensor: torch.Tensor):
        if name.endswith(".weight" + _SCALE):
            return name[: -len(_SCALE)], _SCALE
        if name.endswith(".weight") and (tensor.dtype in FP8_DTYPES or tensor.dtype == torch.int8):
            quantized.add(name)
            return name, ""
        return None

    def join(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        if block is not None:
            return dequantize_fp8(weight, scale, block)
        if scale.numel() != 1 and tuple(scale.shape) != (weight.shape[0], 1):
            raise ValueError(f"weight {tuple(weight.shape)} needs one scale per output channel "
                             f"({weight.shape[0]}, 1) or one in all, got {tuple(scale.shape)}")
        return weight.to(torch.float32) * scale.to(torch.float32).reshape(-1, 1)

    kept = ((name, tensor) for name, tensor in tensors if not name.endswith(_DROPPED))
    return joined_pairs(kept, ("", _SCALE), part_of, join, "compressed-tensors")
