"""The decoder block's element-wise chains, each one function, optionally fused by torch.compile.

In eager mode every op of a chain (upcast, square, mean, rsqrt, multiply, downcast, multiply by
the weight) streams the whole [T, H] activation through memory: on CPU in bf16 the norms,
residual adds, rotary and SiLU·up cost ~15 % of a forward next to matmuls that run at the
machine's peak. ``torch.compile`` (inductor) turns each chain into one vectorised loop that
reads its inputs once and accumulates in float32.

``EAGER`` is the reference and the fallback; ``compiled_ops()`` returns the same functions
compiled with dynamic shapes (one compilation serves every row count) or raises, and the worker
warms them up at start-up so no request pays for compilation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from multiscore.layers.attention.lse_attention import merge_item_attention
from multiscore.layers.rotary import apply_rotary


def rms_norm(x: torch.Tensor, weight: Optional[torch.Tensor], eps: float) -> torch.Tensor:
    """x [..., H] -> [..., H], Hugging Face's numerics: normalise in float32, cast back, then scale
    (``weight`` None: no scale, Llama 4's q/k norm)."""
    if x.dtype == torch.float32:
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    normed = F.rms_norm(x.float(), (x.shape[-1],), None, eps).to(x.dtype)
    return normed if weight is None else weight * normed


def add_rms_norm(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float):
    """-> (x + residual, rms_norm(x + residual)), both [T, H]: the residual stream and the next input."""
    hidden = x + residual
    return hidden, rms_norm(hidden, weight, eps)


def silu_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """[T, 2I] = [gate | up] -> silu(gate) · up [T, I] (in place: one [T, I] buffer, not two)."""
    gate, up = gate_up.chunk(2, dim=-1)
    return F.silu(gate).mul_(up)


def gelu_tanh_mul(gate_up: torch.Tensor) -> torch.Tensor:
    """[T, 2I] = [gate | up] -> gelu_tanh(gate) · up [T, I]: Gemma's MLP (``gelu_pytorch_tanh``)."""
    gate, up = gate_up.chunk(2, dim=-1)
    return F.gelu(gate, approximate="tanh").mul_(up)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """HF's ``x·cos + rotate_half(x)·sin`` for x [T, heads, head_dim], cos/sin [T, 1, rot / 2]
    (HF's tables are ``cat(freqs, freqs)``: one half is kept; dims past ``rot`` pass unchanged).
    One expression, for the compiler."""
    half = cos.shape[-1]
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, x[..., 2 * half :]], dim=-1)


def _norm_rotary(rotate_fn: Callable) -> Callable:
    def norm_rotary(x, weight: Optional[torch.Tensor], eps: float, cos, sin) -> torch.Tensor:
        """x [T, heads, head_dim] -> rotary(rms_norm(x)): Qwen3's per-head q/k norm (none for ``weight=None``)."""
        if weight is not None:
            x = rms_norm(x, weight, eps)
        return rotate_fn(x, cos, sin)

    return norm_rotary


@dataclass(frozen=True)
class FusedOps:
    rms_norm: Callable
    add_rms_norm: Callable
    silu_mul: Callable
    gelu_tanh_mul: Callable
    norm_rotary: Callable
    mis_merge: Callable  # the torch attention backend's MIS merge (lse_attention.merge_item_attention)
    compiled: bool = False


# Eagerly, rotary writes both halves into one buffer with fused multiply-adds (rotary.py).
EAGER = FusedOps(rms_norm=rms_norm, add_rms_norm=add_rms_norm, silu_mul=silu_mul, gelu_tanh_mul=gelu_tanh_mul,
                 norm_rotary=_norm_rotary(apply_rotary), mis_merge=merge_item_attention)

_COMPILED: Optional[FusedOps] = None  # one per process: guards tell dtypes and ranks apart


def compiled_ops() -> FusedOps:
    """The functions through inductor, dynamic in every dimension. Compilation itself happens
    on first call (the worker's warm-up); a machine without a C++ compiler fails there."""
    global _COMPILED
    if _COMPILED is None:
        import torch._inductor.config as inductor_config
        from torch.fx.experimental import _config as fx_config

        inductor_config.compile_threads = 1  # no pool of compile worker processes next to the scheduler
        # Without this, a warm-up shape that happens to equal a model dimension (T == heads) is
        # compiled as "the same size" and the first real request recompiles.
        fx_config.use_duck_shape = False
        compile = lambda fn: torch.compile(fn, dynamic=True, fullgraph=True)  # noqa: E731
        _COMPILED = FusedOps(
            rms_norm=compile(rms_norm), add_rms_norm=compile(add_rms_norm), silu_mul=compile(silu_mul),
            gelu_tanh_mul=compile(gelu_tanh_mul), norm_rotary=compile(_norm_rotary(rotate)),
            mis_merge=compile(merge_item_attention), compiled=True,
        )
    return _COMPILED
