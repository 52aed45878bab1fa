"""Write a checkpoint's layer projections in the quantized layouts multiscore reads as they load
(tests and benchmarks; the published checkpoints cannot be downloaded here):

- ``write_fp8``: ``quant_method: "fp8"``, FP8 e4m3 weights with a ``weight_scale_inv`` per block
  (DeepSeek-V3's and the Qwen3 -FP8 layout);
- ``write_compressed_tensors``: ``quant_method: "compressed-tensors"`` (RedHatAI's layouts): FP8 or int8
  weights with a ``weight_scale`` per channel, tensor or block, and dynamic per-token (or per-group)
  input activations, or none (W8A16);
- ``write_pack_quantized``: compressed-tensors' ``pack-quantized`` format (RedHatAI's ``-quantized.w4a16``): 4- or
  8-bit integer weights packed into int32 words, a scale per group of input columns (or per channel), symmetric or
  with zero points; no activation quantization;
- ``write_bnb_4bit``: bitsandbytes' 4-bit layout, written by transformers itself (the model loaded in 4 bits with
  bitsandbytes, then saved), and ``bnb_dequantized_reference``: the same checkpoint with each 4-bit weight replaced by
  bitsandbytes' own ``dequantize_4bit`` of it (the reference: transformers on the weights bitsandbytes reads).
"""

from __future__ import annotations

import json
import pathlib
import shutil

import torch
from safetensors.torch import load_file, save_file

ACTIVATION_GROUP = 16  # the FP8-block layout's activation groups (columns per scale)


def _projections(src: pathlib.Path, dst: pathlib.Path, quantize) -> None:
    """Copy ``src`` to ``dst`` with every layer's ``*proj.weight`` [R, C] replaced by ``quantize(name, w)``'s tensors."""
    shutil.copytree(src, dst)
    out = {}
    for name, tensor in load_file(str(dst / "model.safetensors")).items():
        if ".layers." in name and name.endswith("proj.weight") and tensor.dim() == 2:
            out.update(quantize(name, tensor))
        else:
            out[name] = tensor
    save_file(out, str(dst / "model.safetensors"), metadata={"format": "pt"})


def _set_quantization(dst: pathlib.Path, quantization_config: dict) -> None:
    config = json.loads((dst / "config.json").read_text())
    config["quantization_config"] = quantization_config
    (dst / "config.json").write_text(json.dumps(config))


def _fp8_blocks(weight: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """weight [R, C] (R, C multiples of ``block``) -> (FP8 [R, C], multipliers [R/block, C/block]): each block's
    largest magnitude at 448."""
    R, C = weight.shape
    blocks = weight.float().reshape(R // block, block, C // block, block)
    scale = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12) / 448.0
    return (blocks / scale[:, None, :, None]).reshape(R, C).to(torch.float8_e4m3fn), scale


def write_fp8(src, dst, block: int = 8) -> pathlib.Path:
    dst = pathlib.Path(dst)

    def quantize(name, weight):
        q, scale = _fp8_blocks(weight, block)
        return {name: q, name + "_scale_inv": scale}

    _projections(pathlib.Path(src), dst, quantize)
    _set_quantization(dst, {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                            "weight_block_size": [block, block]})
    return dst


def write_compressed_tensors(src, dst, kind: str = "float", strategy: str = "channel", activations: bool = True,
                             block: int = 8) -> pathlib.Path:
    """``kind`` "float" (FP8) or "int" (int8); ``strategy`` "channel", "tensor" or "block" (FP8 only: then the
    activations are per group of ``ACTIVATION_GROUP`` columns, as RedHatAI's -FP8-block)."""
    dst = pathlib.Path(dst)

    def quantize(name, weight):
        if strategy == "block":
            q, scale = _fp8_blocks(weight, block)
            return {name: q, name + "_scale": scale}
        largest = weight.abs().amax(dim=1, keepdim=True) if strategy == "channel" else weight.abs().amax().reshape(1)
        if kind == "float":
            scale = largest / 448.0
            return {name: (weight / scale.reshape(-1, 1)).to(torch.float8_e4m3fn), name + "_scale": scale}
        scale = largest / 127.0
        return {name: torch.round(weight / scale.reshape(-1, 1)).clamp(-128, 127).to(torch.int8), name + "_scale": scale}

    _projections(pathlib.Path(src), dst, quantize)
    weights = {"num_bits": 8, "type": kind, "strategy": strategy, "symmetric": True, "dynamic": False}
    inputs = {"num_bits": 8, "type": kind, "strategy": "token", "symmetric": True, "dynamic": True}
    if strategy == "block":
        weights["block_structure"] = [block, block]
        inputs.update(strategy="group", group_size=ACTIVATION_GROUP)
    group = {"targets": ["Linear"], "weights": weights, "input_activations": inputs if activations else None}
    _set_quantization(dst, {"quant_method": "compressed-tensors", "quantization_status": "compressed",
                            "format": f"{kind}-quantized" if activations else "naive-quantized",
                            "config_groups": {"group_0": group}, "ignore": ["lm_head", "score"]})
    return dst


def _pack_int32(values: torch.Tensor, num_bits: int) -> torch.Tensor:
    """[R, C] integers in [-2^(b-1), 2^(b-1)) -> int32 [R, ceil(C·b/32)]: each shifted by 2^(b-1), 32/b to a word,
    the first in the lowest bits (compressed-tensors' layout for bit widths that divide 32)."""
    per_word = 32 // num_bits
    unsigned = values.to(torch.int64) + (1 << (num_bits - 1))
    unsigned = torch.nn.functional.pad(unsigned, (0, -unsigned.shape[1] % per_word))  # a last word's unused slots: 0
    unsigned = unsigned.reshape(values.shape[0], -1, per_word)
    words = (unsigned << (num_bits * torch.arange(per_word))).sum(-1)  # [R, C / per_word] in 0 .. 2^32
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def write_pack_quantized(src, dst, num_bits: int = 4, group: int = 16, symmetric: bool = True,
                         scale_dtype: torch.dtype = torch.bfloat16) -> pathlib.Path:
    """Each projection [R, C] as ``weight_packed`` (int32), ``weight_scale`` [R, C / group] (``scale_dtype``; group
    None: [R, 1]), ``weight_shape`` and, asymmetric, ``weight_zero_point`` [R, C / group] packed along the rows."""
    dst = pathlib.Path(dst)
    q_min, q_max = -(1 << (num_bits - 1)), (1 << (num_bits - 1)) - 1

    def quantize(name, weight):
        R, C = weight.shape
        cols = group or C
        groups = weight.float().reshape(R, C // cols, cols)
        if symmetric:
            scale = (groups.abs().amax(-1) / ((q_max - q_min) / 2)).clamp(min=1e-8).to(scale_dtype)  # [R, G]
            zero = torch.zeros_like(scale, dtype=torch.int64)
        else:
            low, high = groups.amin(-1).clamp(max=0), groups.amax(-1).clamp(min=0)
            scale = ((high - low) / (q_max - q_min)).clamp(min=1e-8).to(scale_dtype)
            zero = torch.clamp(torch.round(q_min - low / scale.float()), q_min, q_max).to(torch.int64)
        q = torch.clamp(torch.round(groups / scale.float()[..., None]) + zero[..., None], q_min, q_max)
        base = name[: -len("weight")]
        out = {base + "weight_packed": _pack_int32(q.reshape(R, C), num_bits), base + "weight_scale": scale,
               base + "weight_shape": torch.tensor([R, C])}
        if not symmetric:
            out[base + "weight_zero_point"] = _pack_int32(zero.t(), num_bits).t().contiguous()
        return out

    _projections(pathlib.Path(src), dst, quantize)
    weights = {"num_bits": num_bits, "type": "int", "strategy": "group" if group else "channel",
               "group_size": group, "symmetric": symmetric, "dynamic": False}
    _set_quantization(dst, {"quant_method": "compressed-tensors", "quantization_status": "compressed",
                            "format": "pack-quantized", "ignore": ["lm_head", "score"],
                            "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights,
                                                          "input_activations": None}}})
    return dst


def write_bnb_4bit(src, dst, quant_type: str = "nf4", double_quant: bool = True) -> pathlib.Path:
    """``src``'s model loaded in 4 bits by transformers with bitsandbytes (on the CPU), saved at ``dst``."""
    import transformers

    dst = pathlib.Path(dst)
    config = transformers.AutoConfig.from_pretrained(str(src))
    model_class = getattr(transformers, config.architectures[0])
    quantization = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                                                   bnb_4bit_use_double_quant=double_quant,
                                                   bnb_4bit_compute_dtype=torch.float32)
    model = model_class.from_pretrained(str(src), quantization_config=quantization, device_map="cpu")
    model.save_pretrained(str(dst))
    shutil.copy(pathlib.Path(src) / "tokenizer.json", dst / "tokenizer.json")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (pathlib.Path(src) / name).exists():
            shutil.copy(pathlib.Path(src) / name, dst / name)
    return dst


def bnb_dequantized_reference(src, dst) -> pathlib.Path:
    """A ``write_bnb_4bit`` checkpoint with every 4-bit weight replaced by bitsandbytes' ``dequantize_4bit`` of it
    (float32) and no quantization_config."""
    import bitsandbytes.functional as bnb

    src, dst = pathlib.Path(src), pathlib.Path(dst)
    shutil.copytree(src, dst)
    tensors = load_file(str(dst / "model.safetensors"))
    out = {}
    for name, tensor in tensors.items():
        if name.endswith(".weight") and tensor.dtype == torch.uint8:
            parts = {key[len(name) + 1:]: t for key, t in tensors.items() if key.startswith(name + ".")}
            out[name] = bnb.dequantize_4bit(tensor, bnb.QuantState.from_dict(parts, device=torch.device("cpu"))).float()
        elif ".weight." not in name:
            out[name] = tensor
    save_file(out, str(dst / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((dst / "config.json").read_text())
    del config["quantization_config"]
    (dst / "config.json").write_text(json.dumps(config))
    return dst
