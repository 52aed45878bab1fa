import torch
from torch import nn

from multiscore.layers.fused_ops import rms_norm


class RMSNorm(nn.Module):
    """RMSNorm's weight; the decoder calls its norms through ``FusedOps`` (eager or compiled), whose
    ``rms_norm`` keeps Hugging Face's numerics: normalise in float32, cast back, then scale."""

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)
