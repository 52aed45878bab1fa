"""Rotary position embedding for flat (packed) tokens.

Inverse frequencies come from transformers' own rope initialisers, so every rope type the
checkpoint's config names (default, linear, llama3, yarn, ...) is computed exactly as Hugging Face does.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

# Rope types whose frequencies depend on the running sequence length are served over the range where
# they do not, and the context stops there (attention_geometry.static_rope_range): "dynamic" (NTK) is the
# plain rotary up to max_position_embeddings (served as "default"); "longrope" (Phi-3.5 / Phi-4-mini,
# MiniCPM4) uses its short factors up to original_max_position_embeddings, which is what transformers'
# initialiser gives without a sequence length.


def per_layer_type_rope(config) -> bool:
    """Gemma3 and ModernBERT rotate ``full_attention`` and ``sliding_attention`` layers with their
    own bases: transformers 5 keys ``rope_parameters`` by layer type, 4.x names
    ``rope_local_base_freq`` (Gemma3) or ``local_rope_theta`` (ModernBERT) beside the global one."""
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict) and isinstance(params.get("full_attention"), dict):
        return True
    return getattr(config, "rope_local_base_freq", None) is not None or getattr(config, "local_rope_theta", None) is not None


def rope_parameters(config, layer_type: Optional[str] = None) -> dict:
    """The rope parameters of ``layer_type``'s layers (None: a model with one rotary for all)."""
    params = getattr(config, "rope_parameters", None)
    if params is not None and layer_type is not None and isinstance(params.get(layer_type), dict):
        return params[layer_type]
    if params is None:  # transformers 4.x configs
        params = dict(getattr(config, "rope_scaling", None) or {})
        params.setdefault("rope_type", params.get("type", "default"))
        params.setdefault("rope_theta", getattr(config, "rope_theta", None) or getattr(config, "global_rope_theta", 10000.0))
        if layer_type == "sliding_attention":  # 4.x: local layers use the plain rotary at the local base
            local = getattr(config, "rope_local_base_freq", None) or getattr(config, "local_rope_theta", None)
            params = {"rope_type": "default", "rope_theta": local}
    return params


def compute_inv_freq(config, head_dim: int, layer_type: Optional[str] = None) -> tuple[torch.Tensor, float]:
    params = rope_parameters(config, layer_type)
    rope_type = params.get("rope_type", "default")
    if rope_type in ("default", "ntk", "dynamic"):
        base = params["rope_theta"]
        dim = rotary_dims(config, head_dim, layer_type)
        if rope_type == "dynamic" and params.get("alpha"):  # HunYuan's NTK-alpha: a fixed larger base, at every length
            base = base * float(params["alpha"]) ** (dim / (dim - 2))
        if rope_type in ("default", "dynamic"):
            return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim)), 1.0
        return _fixed_ntk_inv_freq(params, base, dim), 1.0
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    if rope_type not in ROPE_INIT_FUNCTIONS:
        raise ValueError(f"unknown rope type {rope_type!r}")
    keyed = isinstance(getattr(config, "rope_parameters", None), dict) and layer_type in config.rope_parameters
    kwargs = {"layer_type": layer_type} if keyed else {}  # transformers 5's initialisers read that layer type's entry
    inv_freq, scaling = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", **kwargs)
    return inv_freq.float(), float(scaling)


def rotary_dims(config, head_dim: int, layer_type: Optional[str] = None) -> int:
    """How many dims of each head rotate: ``partial_rotary_factor`` of it (its rope parameters' or the
    config's; Phi-4-mini 0.75, GLM and Pythia less), all of them without one."""
    return int(head_dim * rotary_share(config, layer_type))


def rotary_share(config, layer_type: Optional[str] = None) -> float:
    """The config's ``partial_rotary_factor`` (its rope parameters' or its own), 1.0 without one."""
    return float(rope_parameters(config, layer_type).get("partial_rotary_factor")
                 or getattr(config, "partial_rotary_factor", None) or 1.0)


def _fixed_ntk_inv_freq(params: dict, base: float, dim: int) -> torch.Tensor:
    """The original GTE code's fixed NTK scaling (``rope_scaling: {"type": "ntk", "factor": f}``,
    gte-base/large-en-v1.5; also vLLM's NTKScalingRotaryEmbedding): the base times f, every
    frequency divided by f^(2/dim), at every length. transformers has no such rope type."""
    if params.get("mixed_b") is not None:
        raise ValueError("rope scaling 'ntk' with mixed_b (mixed NTK) is not supported")
    factor = float(params["factor"])
    inv_freq = 1.0 / ((base * factor) ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    return inv_freq / factor ** (2 / dim)


class RotaryEmbedding(nn.Module):
    def __init__(self, config, head_dim: int, layer_type: Optional[str] = None) -> None:
        """``layer_type``: the rotary of those layers, for models with one per layer type (per_layer_type_rope)."""
        super().__init__()
        with torch.device("cpu"):  # real numbers even when the model is built on the meta device
            inv_freq, self.attention_scaling = compute_inv_freq(config, head_dim, layer_type)
        # Derived from the config, not a weight: a plain attribute, so materialising the model's
        # weights (``to_empty``) leaves it alone. Moved to the positions' device on first use.
        self.inv_freq = inv_freq  # [head_dim / 2] float32

    def cos_sin(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """positions [T] -> (cos, sin), each [T, 1, head_dim / 2], computed in float32 like HF.

        HF's tables are ``cat(freqs, freqs)``: both halves are equal, so one half is kept.
        """
        if self.inv_freq.device != positions.device:
            self.inv_freq = self.inv_freq.to(positions.device)
        freqs = positions.float()[:, None] * self.inv_freq[None, :]  # [T, hd/2]
        cos = (freqs.cos() * self.attention_scaling).to(dtype)
        sin = (freqs.sin() * self.attention_scaling).to(dtype)
        return cos[:, None, :], sin[:, None, :]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [T, heads, head_dim]; cos/sin [T, 1, rot / 2], rot = head_dim, or fewer for a partial
    rotary (the dims past ``rot`` pass unchanged).

    Same result as HF's ``x * cos + rotate_half(x) * sin``, written half by half into one output
    buffer: no concatenated copy of x and two fused multiply-adds instead of five passes.
    """
    half = cos.shape[-1]
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    out = torch.empty_like(x)
    o1, o2 = out[..., :half], out[..., half : 2 * half]
    if 2 * half < x.shape[-1]:
        out[..., 2 * half :] = x[..., 2 * half :]
    torch.mul(x1, cos, out=o1).addcmul_(x2, sin, value=-1)  # x1·cos − x2·sin
    torch.mul(x2, cos, out=o2).addcmul_(x1, sin)  # x2·cos + x1·sin
    return out
