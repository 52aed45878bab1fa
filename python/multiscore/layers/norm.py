import torch
from torch import nn


class RMSNorm(nn.Module):
    """RMSNorm's weight and eps. The decoder applies its norms through ``FusedOps`` (layers/fused_ops.py,
    eager or compiled), whose ``rms_norm`` keeps Hugging Face's numerics: normalise in float32, cast
    back, then scale; so this module has no forward of its own.

    ``weight_offset``: added to the checkpoint's weight when it is loaded. Gemma's norms scale by
    ``1 + w`` in float32; storing ``1 + w`` (computed in the parameter's dtype) gives the same
    product in fp32.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6, weight_offset: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps
        self.weight_offset = weight_offset


class WeightlessRMSNorm(nn.Module):
    """An RMSNorm with no weight (Llama 4's per-head q/k norm), applied as RMSNorm is (``FusedOps.rms_norm``
    with ``weight`` None)."""

    weight = None

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
