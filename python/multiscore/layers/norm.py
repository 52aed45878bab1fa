import torch
from torch import nn


class RMSNorm(nn.Module):
    """RMSNorm's weight and eps. The decoder applies its norms through ``FusedOps`` (layers/fused_ops.py,
    eager or compiled), whose ``rms_norm`` keeps Hugging Face's numerics: normalise in float32, cast
    back, then scale; so this module has no forward of its own."""

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps
