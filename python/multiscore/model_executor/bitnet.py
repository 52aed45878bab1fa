"""BitNet b1.58 checkpoints (``quantization_config.quant_method: "bitnet"``): ternary weights and 8-bit
activations, served as transformers computes them (its ``integrations/bitnet.py``), in the server's dtype.

Weights, read as they load (W is what the product multiplies by):
- ``linear_class`` bitlinear (offline: microsoft/bitnet-b1.58-2B-4T): ``X.weight`` uint8 [R / 4, C], four
  ternary values per byte (the rows of quarter i in bits 2i..2i+1, each stored + 1), and ``X.weight_scale``
  [1]: W = ternary / weight_scale;
- autobitlinear, offline: ``X.weight`` (ternary values, stored in the model's dtype) and ``X.weight_scale``:
  W = weight · weight_scale;
- autobitlinear, online (master weights): W = clamp(round(w · s), -1, 1) / s, s = 1 / mean |w| per tensor.
The weights of every projection are read so, except ``modules_to_not_convert`` (the LM head by default).

Activations: each of those projections quantizes its input per token first (``Linear.input_quant`` kind
"bitnet", layers/activation_quant.py): s = 127 / max |x|, x -> clamp(round(x · s), -128, 127) / s. Per token,
so MIS and single-item quantize every row alike.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

from multiscore.model_executor.fp8 import quantization_setting
from multiscore.model_executor.tensor_pairs import joined_pairs

ACTIVATION_KIND = ("bitnet", None)  # Linear.input_quant of the converted projections
_SCALE = "_scale"
_VALUES_PER_BYTE = 4


def read_mode(quantization_config) -> str:
    """"packed" (bitlinear), "scaled" (autobitlinear offline) or "online"; ValueError for what is not read here."""
    linear_class = quantization_setting(quantization_config, "linear_class") or "bitlinear"
    mode = quantization_setting(quantization_config, "quantization_mode") or "offline"
    if quantization_setting(quantization_config, "use_rms_norm"):
        raise ValueError("BitNet's use_rms_norm (an RMSNorm inside every projection) is not supported")
    skipped = quantization_setting(quantization_config, "modules_to_not_convert")
    if skipped is not None and _converts("lm_head", skipped):
        raise ValueError("BitNet's modules_to_not_convert leaves the LM head to be quantized too; it is served "
                         "unquantized here (list lm_head, as transformers does by default)")
    modes = {("bitlinear", "offline"): "packed", ("autobitlinear", "offline"): "scaled",
             ("autobitlinear", "online"): "online"}
    if (linear_class, mode) not in modes:
        raise ValueError(f"BitNet linear_class {linear_class!r} with quantization_mode {mode!r} is not supported "
                         f"(one of {sorted(modes)})")
    return modes[(linear_class, mode)]


def dequantized_tensors(tensors: Iterator[tuple[str, torch.Tensor]], quantization_config,
                        is_projection: Callable[[str], bool], quantized: set[str]) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) with each converted projection's weight read as W (module doc), its name added to
    ``quantized``; ``is_projection``: whether a checkpoint ``X.weight`` is one of the model's projections."""
    mode = read_mode(quantization_config)
    skipped = quantization_setting(quantization_config, "modules_to_not_convert")

    def converted(name: str) -> bool:
        return name.endswith(".weight") and is_projection(name) and _converts(name[: -len(".weight")], skipped)

    if mode == "online":
        for name, tensor in tensors:
            if converted(name):
                quantized.add(name)
                tensor = ternarized(tensor)
            yield name, tensor
        return

    def part_of(name: str, tensor: torch.Tensor):
        if name.endswith(".weight" + _SCALE):
            return name[: -len(_SCALE)], _SCALE
        if (tensor.dtype == torch.uint8) if mode == "packed" else converted(name):
            quantized.add(name)
            return name, ""
        return None

    def join(weight: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        scale = scale.to(torch.float32).reshape(())
        return unpacked(weight) / scale if mode == "packed" else weight.to(torch.float32) * scale

    yield from joined_pairs(tensors, ("", _SCALE), part_of, join, "BitNet")


def unpacked(packed: torch.Tensor) -> torch.Tensor:
    """uint8 [R / 4, C] -> float32 [R, C] in {-1, 0, 1}: quarter i of the rows from bits 2i..2i+1, less 1."""
    if packed.dtype != torch.uint8:
        raise ValueError(f"a packed BitNet weight is uint8, not {packed.dtype}")
    quarters = [(packed >> (2 * i)) & 3 for i in range(_VALUES_PER_BYTE)]
    return torch.cat(quarters, dim=0).to(torch.float32) - 1


def ternarized(weight: torch.Tensor) -> torch.Tensor:
    """Master weights [R, C] -> float32 [R, C]: each value rounded to -1, 0 or 1 at s = 1 / mean |w|, over s."""
    w = weight.to(torch.float32)
    s = 1.0 / w.abs().mean().clamp(min=1e-5)
    return (w * s).round().clamp(-1, 1) / s


def _converts(module: str, skipped) -> bool:
    from transformers.quantizers.quantizers_utils import should_convert_module

    return should_convert_module(module, skipped)
