"""compressed-tensors W8A8, W8A16 and W4A16 checkpoints (``quant_method: "compressed-tensors"``, formats
``float-quantized`` / ``int-quantized`` / ``naive-quantized``: RedHatAI's ``-FP8-dynamic``, ``-FP8``,
``-quantized.w8a8`` and ``-W8A16`` releases; ``pack-quantized``: their ``-quantized.w4a16`` ones), served as
transformers with compressed-tensors computes them.

- Weights: ``X.weight`` (FP8 e4m3 or int8) and ``X.weight_scale`` (one per output channel [R, 1], one per
  tensor, or one per ``block_structure`` block: RedHatAI's ``-FP8-block``) are dequantized in float32 as
  they load: W = q · scale.
- Packed weights (``pack-quantized``): ``X.weight_packed`` (int32 words of 32 / b b-bit integers, each stored
  plus 2^(b-1), the first in the lowest bits), ``X.weight_scale`` (one per ``group_size`` input columns of a
  row, or per row) and ``X.weight_shape``, unpacked and dequantized the same way.
- Activations (W8A8): each quantized product's input is quantized and dequantized per token first
  (``Linear.input_quant``: layers/activation_quant.py), as compressed-tensors' forward does. Per token,
  so MIS and single-item quantize every row alike.
Only symmetric schemes are read: 8-bit weights per channel, tensor or block, with dynamic activations per token
or per group of a token's columns or none; packed 2-, 4- or 8-bit integer weights per group or channel (static
groups: ``actorder`` none or "weight"), weights only. Any other (static activation scales, zero points,
activation-ordered groups, a KV-cache scheme) is refused with the reason.
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch

from multiscore.layers.activation_quant import RANGES
from multiscore.model_executor.fp8 import FP8_DTYPES, dequantize_fp8, quantization_setting
from multiscore.model_executor.tensor_pairs import joined_pairs, joined_parts

_SCALE = "_scale"
_DROPPED = (".weight_zero_point", ".input_zero_point")  # symmetric schemes: zeros, unused
_FORMATS = ("float-quantized", "int-quantized", "naive-quantized", "pack-quantized")
PACKED = "pack-quantized"
_PACKED_PARTS = ("_packed", _SCALE, "_shape")  # X.weight_packed, X.weight_scale, X.weight_shape


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
    if fmt == PACKED:
        _check_packed(weights)
        if inputs is not None or group.get("output_activations"):
            raise ValueError("compressed-tensors pack-quantized with quantized activations is not supported: weights "
                             "only (W4A16, W8A16) is")
        return None
    _check(weights, "weights", strategies=("channel", "tensor", "block"), dynamic=False)
    if group.get("output_activations"):
        raise ValueError("compressed-tensors output_activations are not supported")
    if inputs is None:
        return None
    _check(inputs, "input_activations", strategies=("token", "group"), dynamic=True)
    if inputs.get("type") != weights.get("type"):
        raise ValueError("compressed-tensors activations of another type than the weights are not supported")
    return inputs["type"], (int(inputs["group_size"]) if inputs["strategy"] == "group" else None)


def _check_packed(weights: dict) -> None:
    scheme = (f"{weights.get('num_bits')}-bit {weights.get('type')}, {weights.get('strategy')}, "
              f"{'symmetric' if weights.get('symmetric', True) else 'asymmetric'}, actorder {weights.get('actorder')}")
    strategy = weights.get("strategy")
    if (weights.get("num_bits") not in (2, 4, 8) or weights.get("type") != "int" or strategy not in ("group", "channel")
            or not weights.get("symmetric", True) or weights.get("dynamic") or weights.get("actorder") not in (None, "weight")
            or bool(weights.get("group_size")) is not (strategy == "group")):
        raise ValueError(f"compressed-tensors pack-quantized weights quantized as {scheme} are not supported: 2-, 4- or "
                         "8-bit int, per group or channel, symmetric, static groups (actorder none or 'weight')")


def packed_bits(quantization_config) -> Optional[tuple[int, Optional[int]]]:
    """(bits, group size or None per row) of a pack-quantized checkpoint's weights, else None."""
    if quantization_setting(quantization_config, "format") != PACKED:
        return None
    weights = list(quantization_setting(quantization_config, "config_groups").values())[0]["weights"]
    return int(weights["num_bits"]), (int(weights["group_size"]) if weights["strategy"] == "group" else None)


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
        return _dequantized(weight, scale.reshape(-1, 1))

    kept = ((name, tensor) for name, tensor in tensors if not name.endswith(_DROPPED))
    return joined_pairs(kept, ("", _SCALE), part_of, join, "compressed-tensors")


def _dequantized(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """q [R, C] times ``scale`` (broadcast to it) in float32: transformers casts the scales to the model's dtype
    before compressed-tensors dequantizes (a bfloat16 scale's product in float32, not rounded to bfloat16)."""
    return q.to(torch.float32) * scale.to(torch.float32)


def unpacked_tensors(tensors: Iterator[tuple[str, torch.Tensor]], quantized: set[str], bits: int,
                     group: Optional[int]) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) with each packed weight's three tensors (``X.weight_packed``, ``X.weight_scale``,
    ``X.weight_shape``) replaced by X.weight in float32: ``bits``-bit integers times the scale of their ``group``
    of columns (None: of their row). Each such weight's name is added to ``quantized``."""
    def part_of(name: str, tensor: torch.Tensor):
        for suffix in _PACKED_PARTS:
            if name.endswith(".weight" + suffix):
                base = name[: -len(suffix)]
                if suffix == "_packed":
                    quantized.add(base)
                return base, suffix
        return None

    def join(parts: dict[str, torch.Tensor]) -> torch.Tensor:
        rows, cols = (int(n) for n in parts["_shape"].tolist())
        q = unpack_int32(parts["_packed"], bits, cols)  # [R, C]
        scale = parts[_SCALE]  # [R, C / group] or [R, 1]
        expected = (rows, 1 if group is None else -(-cols // group))
        if q.shape[0] != rows or tuple(scale.shape) != expected:
            raise ValueError(f"packed weight of shape ({rows}, {cols}) with {tuple(q.shape)} values and "
                             f"{tuple(scale.shape)} scales (expected {expected})")
        columns = torch.arange(cols) // (group or cols)  # each column's scale
        return _dequantized(q, scale[:, columns])

    return joined_parts(tensors, _PACKED_PARTS, part_of, join, "compressed-tensors pack-quantized")


def unpack_int32(packed: torch.Tensor, bits: int, cols: int) -> torch.Tensor:
    """int32 [R, W] words of 32 / ``bits`` values each (stored plus 2^(bits-1), the first in the lowest bits) ->
    int8 [R, cols]."""
    per_word = 32 // bits
    shifts = bits * torch.arange(per_word, dtype=torch.int32)
    values = (packed[:, :, None] >> shifts) & ((1 << bits) - 1)  # [R, W, per_word]: arithmetic shifts, then masked
    return (values.reshape(packed.shape[0], -1)[:, :cols] - (1 << (bits - 1))).to(torch.int8)
