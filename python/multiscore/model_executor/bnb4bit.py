"""bitsandbytes 4-bit checkpoints (``quantization_config.quant_method: "bitsandbytes"`` with ``load_in_4bit``: the
``-bnb-4bit`` checkpoints that transformers' ``save_pretrained`` writes for a model loaded in 4 bits, unsloth's among
them), dequantized in float32 as they load, as bitsandbytes' ``dequantize_4bit`` computes them.

A quantized ``X.weight`` is uint8 [N / 2, 1]: two 4-bit codes a byte, the high nibble first, in the weight's
row-major order. Beside it: ``X.weight.quant_map`` (the 16 values of NF4 or FP4), ``X.weight.absmax`` (one scale per
``blocksize`` values) and ``X.weight.quant_state.bitsandbytes__nf4`` (or ``__fp4``: JSON bytes naming the block
size, shape and dtype). With double quantization (``bnb_4bit_use_double_quant``) the scales are themselves uint8
codes: absmax = ``nested_quant_map``[code] · ``nested_absmax``[per ``nested_blocksize`` scales] + ``nested_offset``.
W = quant_map[code] · absmax[block]. 8-bit checkpoints (LLM.int8, whose products split outlier columns off) are
refused.
"""

from __future__ import annotations

import json
from typing import Iterator

import torch

from multiscore.model_executor.fp8 import quantization_setting
from multiscore.model_executor.tensor_pairs import joined_parts

_STATE = ".quant_state"  # ``.quant_state.bitsandbytes__nf4`` / ``__fp4``, read as one part
_PLAIN_PARTS = ("", ".absmax", ".quant_map", _STATE)
_NESTED_PARTS = (".nested_absmax", ".nested_quant_map")


def check_scheme(quantization_config) -> None:
    """ValueError for a bitsandbytes scheme not read here (8-bit, another storage type)."""
    if quantization_setting(quantization_config, "load_in_8bit") or quantization_setting(quantization_config, "_load_in_8bit"):
        raise ValueError("bitsandbytes 8-bit checkpoints (LLM.int8) are not supported: their products split outlier "
                         "columns off in 16 bits; the 4-bit ones are")
    if not (quantization_setting(quantization_config, "load_in_4bit") or quantization_setting(quantization_config, "_load_in_4bit")):
        raise ValueError("a bitsandbytes quantization_config without load_in_4bit is not supported")
    storage = quantization_setting(quantization_config, "bnb_4bit_quant_storage", "uint8")
    if storage not in (None, "uint8"):
        raise ValueError(f"bitsandbytes 4-bit weights stored as {storage} are not supported (uint8 is)")


def dequantized_tensors(tensors: Iterator[tuple[str, torch.Tensor]],
                        quantization_config) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) with each 4-bit weight's parts replaced by X.weight in float32 (weights only: no product's
    input is quantized)."""
    nested = bool(quantization_setting(quantization_config, "bnb_4bit_use_double_quant"))
    suffixes = _PLAIN_PARTS + (_NESTED_PARTS if nested else ())

    def part_of(name: str, tensor: torch.Tensor):
        if name.endswith(".weight") and tensor.dtype == torch.uint8:
            return name, ""
        base, dot, rest = name.partition(".weight.")
        if not dot:
            return None
        suffix = _STATE if rest.startswith("quant_state.") else "." + rest
        return (base + ".weight", suffix) if suffix in suffixes else None

    return joined_parts(tensors, suffixes, part_of, lambda parts: dequantize(parts, nested), "bitsandbytes 4-bit")


def dequantize(parts: dict[str, torch.Tensor], nested: bool) -> torch.Tensor:
    """One weight's parts (by suffix) -> its float32 values in their shape."""
    state = json.loads(bytes(parts[_STATE].tolist()).decode("utf-8"))
    shape, blocksize = [int(n) for n in state["shape"]], int(state["blocksize"])
    packed = parts[""].flatten()
    codes = torch.stack([packed >> 4, packed & 0x0F], dim=-1).flatten().long()  # [N]: the high nibble first
    absmax = parts[".absmax"]
    if nested:  # the scales' own 8-bit codes, per block of nested_blocksize
        block = int(state["nested_blocksize"])
        scales = parts[".nested_absmax"].float().repeat_interleave(block)[: absmax.numel()]
        absmax = parts[".nested_quant_map"].float()[absmax.long()] * scales + float(state["nested_offset"])
    count = torch.Size(shape).numel()
    values = parts[".quant_map"].float()[codes[:count]]  # [count]
    block_of = torch.arange(count) // blocksize
    return (values * absmax.float()[block_of]).reshape(shape)
