"""``--quantization int8`` on CPU: W8A8 linear layers on oneDNN's u8 x s8 kernels (VNNI / AMX-INT8).

- Weights: symmetric int8 per output channel, quantized once at start-up and pre-packed.
- Activations: symmetric int8 per token (row), quantized on every call. A row's scale depends on
  that row alone and the kernel accumulates in int32 exactly, so a token's product does not depend on
  what else shares the batch (a per-tensor activation scale, as ONNX's dynamic quantization uses,
  would let one request's values move another's scores).
- Rounding to codes is discontinuous: two float paths that differ by rounding (MIS and single-item
  attention, ~1e-6) can land a value on either side of a code boundary, and over the layers such
  flips add up to the size of int8's own error (W1, 6 layers: 1e-6 of relative noise on every
  input moves a score by 3 % of the score span). So under int8, MIS and single-item agree to int8's
  error, not to float rounding (benchmark/README.md).
- oneDNN's kernel takes uint8 activations: ``round(x / s) + 128`` with zero point 128 is the same
  symmetric int8 value shifted into [1, 255].
- The kernel is told the activation scale is 1, so it returns ``acc * w_scale``; the row scale and
  the bias then run in one pass (the epilogue), the activation after it in torch's own kernel.

The quantizer and the epilogue are element-wise chains: eager torch runs each as 3-5 passes over
memory, torch.compile (inductor) as one. ``use_compiled_int8_ops`` swaps in the compiled pair. The
activation stays out of the compiled epilogue: inductor's exact GELU (erf) ran 2.5x slower than the
epilogue plus torch's GELU (MiniLM's up-projection, [4744, 1536] bf16: 6.4 ms vs 0.7 + 1.9 ms).
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

import torch

from multiscore.layers.linear import EAGER_ACTIVATIONS, pad_rows

logger = logging.getLogger(__name__)

_ZERO_POINT = 128  # uint8 = int8 + 128
_INT8_MAX = 127
_TINY = 1e-12  # an all-zero row gets this scale instead of 0 (its codes are all 128, its product 0)
_INT8_DTYPES = (torch.float32, torch.bfloat16)


def quantize_rows_eager(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [rows, in] -> (codes uint8 [rows, in], scale float32 [rows, 1]); x ≈ (codes - 128) * scale."""
    scale = x.abs().amax(-1, keepdim=True).float().clamp_min(_TINY) / _INT8_MAX
    codes = torch.round(x.float() / scale).add_(_ZERO_POINT).to(torch.uint8)
    return codes, scale


def epilogue_eager(acc: torch.Tensor, row_scale: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """acc [rows, out] (= int32 sums * weight scale) -> acc * row_scale + bias, in acc's dtype."""
    out = acc.float() * row_scale
    if bias is not None:
        out = out + bias.float()
    return out.to(acc.dtype)


_ops: dict[str, Callable] = {"quantize": quantize_rows_eager, "epilogue": epilogue_eager}


def use_compiled_int8_ops(compiled: bool) -> None:
    """Compiled (one fused pass each) or eager quantizer and epilogue, for every int8 layer."""
    if compiled:
        _ops["quantize"] = torch.compile(quantize_rows_eager, dynamic=True)
        _ops["epilogue"] = torch.compile(epilogue_eager, dynamic=True)
    else:
        _ops.update(quantize=quantize_rows_eager, epilogue=epilogue_eager)


class Int8Weight:
    """One layer's weight [out, in] as per-channel int8, packed for oneDNN, and its product."""

    def __init__(self, weight: torch.Tensor) -> None:
        weight = weight.detach().float()
        self.out_features, self.in_features = weight.shape
        self.scale = weight.abs().amax(1).clamp_min(_TINY) / _INT8_MAX  # [out] float32
        codes = torch.round(weight / self.scale[:, None]).to(torch.int8)  # [out, in]
        self.packed = torch.ops.onednn.qlinear_prepack(codes, None)
        self.zero_points = torch.zeros(self.out_features, dtype=torch.long)  # symmetric

    def __call__(self, x: torch.Tensor, bias: Optional[torch.Tensor], activation: tuple[str, str]) -> torch.Tensor:
        """x [..., in] -> activation(x · W^T + bias) [..., out], in x's dtype."""
        rows = x.reshape(-1, self.in_features)
        m = rows.shape[0]
        codes, row_scale = _ops["quantize"](pad_rows(rows))  # bucketed row count (linear.bucket_rows)
        acc = torch.ops.onednn.qlinear_pointwise(
            codes, 1.0, _ZERO_POINT, self.packed, self.scale, self.zero_points,
            None, 1.0, 0, x.dtype, "none", [], "",
        )  # [rows, out] = int32 sums * weight scale
        out = EAGER_ACTIVATIONS[activation](_ops["epilogue"](acc[:m], row_scale[:m], bias))
        return out.reshape(*x.shape[:-1], self.out_features)


def int8_problem(device: torch.device, dtype: torch.dtype) -> Optional[str]:
    """None when int8 layers serve this device and dtype (checked on a small product); else why not."""
    if device.type != "cpu":
        return f"the int8 layers run on oneDNN's CPU kernels, not on {device.type}"
    if dtype not in _INT8_DTYPES:
        return f"int8 layers return float32 or bfloat16, not {str(dtype).removeprefix('torch.')}"
    if not hasattr(torch.ops.onednn, "qlinear_pointwise"):
        return "this torch build has no oneDNN int8 linear (torch.ops.onednn.qlinear_pointwise)"
    if not _int8_dot_products():
        # Measured on an AVX2-only AMD EPYC (Zen 3): oneDNN's u8·s8 kernel adds pairs of products in
        # 16 bits, which saturate (float32 outputs 14-34 % off), and with bfloat16 outputs it runs a
        # reference loop (a [512 x 384]·[384 x 1536] product: 10 s, against 4 ms in float32).
        return ("this CPU has neither VNNI nor AMX-INT8 (AVX2 only): oneDNN's int8 kernels here saturate their "
                "16-bit sums (float32 outputs) or run ~2,000x slower than float32 (bfloat16 outputs); serve this "
                "model without --quantization")
    generator = torch.Generator().manual_seed(0)
    weight, x = torch.randn(8, 32, generator=generator), torch.randn(3, 32, generator=generator)
    try:
        got = Int8Weight(weight)(x.to(dtype), None, ("none", "")).float()
    except RuntimeError as e:
        return f"oneDNN's int8 linear failed: {e}"
    expected = x @ weight.T
    error = (got - expected).abs().max() / expected.abs().max()
    if error > 0.05:  # int8's own error is ~1 % here
        return f"oneDNN's int8 linear disagreed with the float product ({100 * error:.0f} % off)"
    return None


def _int8_dot_products() -> list[str]:
    """The int8 dot-product instructions oneDNN can use here (AVX-VNNI: 256-bit VNNI without AVX-512)."""
    probes = (("AMX-INT8", "_is_amx_tile_supported"), ("VNNI", "_is_vnni_supported"))
    found = [name for name, probe in probes if getattr(torch.cpu, probe, lambda: False)()]
    if not found and "avx_vnni" in _cpu_flags():
        found.append("AVX-VNNI")
    return found


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return {flag for line in f if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    except OSError:  # not Linux: only torch's probes
        return set()


def int8_isa() -> str:
    """The int8 instructions oneDNN can use here, for the logs and /get_server_info."""
    return ", ".join(_int8_dot_products())
