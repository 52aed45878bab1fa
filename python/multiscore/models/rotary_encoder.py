"""Parts shared by the BERT-style encoders that rotate q and k instead of adding position
embeddings (NomicBERT, GTE): their attention, and BERT's post-norm residual steps."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.rotary import apply_rotary


class RotaryEncoderAttention(nn.Module):
    """``qkv_proj`` (q, k, v stacked) and ``o_proj``, with biases or without; bidirectional."""

    def __init__(self, config, bias: bool) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = head_dim_of(config)
        size = self.num_heads * self.head_dim
        self.qkv_proj = FusedLinear(config.hidden_size, {"q": size, "k": size, "v": size}, bias=bias)
        self.o_proj = Linear(size, config.hidden_size, bias=bias)

    def forward(self, x: torch.Tensor, cos, sin, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """x [T, H] -> [T, H] (or [R, H] for ``keep_rows``), before the residual add."""
        T = x.shape[0]
        q, k, v = self.qkv_proj(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        out = attention(apply_rotary(q, cos, sin), apply_rotary(k, cos, sin), v, self.head_dim**-0.5)
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)
        return self.o_proj(out.reshape(out.shape[0], -1))


def post_norm_residuals(x: torch.Tensor, attn_out: torch.Tensor, keep_rows: Optional[torch.Tensor],
                        attn_norm: nn.Module, mlp: nn.Module, mlp_norm: nn.Module) -> torch.Tensor:
    """BERT's post-norm steps after attention: norm(x + attn), then norm(x + mlp(x)); [T or R, H]."""
    if keep_rows is not None:  # every row was a key; only these go on
        x = x.index_select(0, keep_rows)
    x = attn_norm(x + attn_out)
    return mlp_norm(x + mlp(x))
