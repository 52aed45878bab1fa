"""DiffLlama (differential attention, kajuma/DiffLlama-*): ``DiffLlamaForCausalLM``,
``DiffLlamaForSequenceClassification``, ``DiffLlamaForTokenClassification``, ``DiffLlamaModel``.

Llama's block with differential attention: one softmax per head over its keys, read against two values,
the first and the second half of the kv heads (kv head a: values a mod Hkv/2 and Hkv/2 + a mod Hkv/2),
giving a [2D] output per head; head h < Hq/2 then takes o_h - λ·o_{h + Hq/2}, RMS-normed over its 2D without a
weight and times (1 - λ_init), λ = exp(λq1·λk1) - exp(λq2·λk2) + λ_init, λ_init = 0.8 - 0.6·exp(-0.3·layer).

Both values are read in one attention call: the values [T, Hkv, 2D] side by side, the queries and keys padded
with D zeros (q·k unchanged). So each layer keeps keys and values of 2D (``head_dim_of``), as the prefix cache holds them.

MIS is exact: per query, attention as single-item scoring sees it; everything after it is per token.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    ForwardContext,
)
from multiscore.models.llama import llama_options


class DifferentialAttention(nn.Module):
    """``self_attn.*``: Llama's q/k/v/o projections and ``lambda_q1``, ``lambda_k1``, ``lambda_q2``, ``lambda_k2`` [D]."""

    def __init__(self, config, options: BlockOptions, layer_id: int) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.num_heads, self.num_kv_heads = config.num_attention_heads, config.num_key_value_heads
        if self.num_kv_heads % 2 or self.num_heads % 2:
            raise ValueError(f"differential attention splits the heads in two: {self.num_heads} query and "
                             f"{self.num_kv_heads} kv heads do not split")
        self.head_dim = D = config.head_dim or config.hidden_size // config.num_attention_heads
        self.q_size, self.kv_size = self.num_heads * D, self.num_kv_heads * D
        self.qkv_proj = FusedLinear(config.hidden_size, {"q": self.q_size, "k": self.kv_size, "v": self.kv_size},
                                    bias=options.qkv_bias)
        self.o_proj = Linear(self.q_size, config.hidden_size, bias=options.o_bias)
        self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2 = (nn.Parameter(torch.empty(D)) for _ in range(4))
        self.lambda_init = 0.8 - 0.6 * math.exp(-0.3 * layer_id)
        self.eps = config.rms_norm_eps

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows: Optional[torch.Tensor] = None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T, D, half = hidden.shape[0], self.head_dim, self.num_kv_heads // 2
        q, k, v = self.qkv_proj(hidden).split([self.q_size, self.kv_size, self.kv_size], dim=-1)
        q = ctx.ops.norm_rotary(q.view(T, self.num_heads, D), None, 0.0, ctx.cos, ctx.sin)
        k = ctx.ops.norm_rotary(k.view(T, self.num_kv_heads, D), None, 0.0, ctx.cos, ctx.sin)
        v = v.view(T, self.num_kv_heads, D)
        values = torch.cat([v[:, :half].repeat(1, 2, 1), v[:, half:].repeat(1, 2, 1)], dim=-1)  # [T, Hkv, 2D]
        out = ctx.attention(torch.cat([q, torch.zeros_like(q)], dim=-1), torch.cat([k, torch.zeros_like(k)], dim=-1),
                            values, D**-0.5, None, None, layer=self.layer_id, rows=keep_rows)  # [R, Hq, 2D]
        lam = (self._product_exp(self.lambda_q1, self.lambda_k1) - self._product_exp(self.lambda_q2, self.lambda_k2)
               + self.lambda_init).to(out.dtype)
        pairs = self.num_heads // 2
        out = out[:, :pairs] - lam * out[:, pairs:]  # [R, Hq / 2, 2D]
        out = (1 - self.lambda_init) * ctx.ops.rms_norm(out, None, self.eps)
        return self.o_proj(out.reshape(out.shape[0], self.q_size))

    @staticmethod
    def _product_exp(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """exp(a · b) as transformers: the products in the weights' dtype, summed in float32."""
        return torch.exp(torch.sum(a * b, dim=-1, dtype=torch.float32))


def diffllama_options(config) -> BlockOptions:
    return replace(llama_options(config), attention_for_layer=lambda config, options, layer_id: DifferentialAttention(
        config, options, layer_id))


class _DiffLlama:
    options_for = staticmethod(diffllama_options)

    def make_body(self, config) -> nn.Module:
        body = super().make_body(config)
        # Rotary over each head's D dims (head_dim_of counts the 2D the layers keep).
        body.rotary_emb = RotaryEmbedding(config, body.layers[0].self_attn.head_dim)
        return body


class DiffLlamaForCausalLM(_DiffLlama, DecoderForCausalLM):
    pass


class DiffLlamaForSequenceClassification(_DiffLlama, DecoderForSequenceClassification):
    pass


class DiffLlamaForTokenClassification(_DiffLlama, DecoderForTokenClassification):
    pass


class DiffLlamaModel(_DiffLlama, DecoderForEmbedding):
    pass
