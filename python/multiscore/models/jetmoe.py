"""JetMoE (jetmoe/jetmoe-8b): ``JetMoeForCausalLM``, ``JetMoeForSequenceClassification``, ``JetMoeModel``.

Llama's pre-norm block (its layers' RMSNorms at eps 1e-6 whatever ``rms_norm_eps`` says; the final one at it) with
two mixtures of experts, each routed per token by ``router.layer`` (the top k
logits, softmaxed among themselves):
- attention (``self_attention``): one shared ``kv_proj`` ([k | v] of ``num_key_value_heads`` heads of ``kv_channels``),
  and per chosen expert a query projection (``experts.input_linear`` [E, Hkv·D, H]) and an output projection
  (``experts.output_linear`` [E, H, Hkv·D]) whose outputs are weighted, summed, plus ``experts.bias``. Each chosen
  expert's query heads attend to the shared keys: served as grouped-query attention, query head (kv head i,
  expert slot j) at i·k + j;
- MLP: SwiGLU experts (``input_linear`` [E, 2I, H] = [gate | up], ``output_linear`` [E, H, I]) plus ``bias``.

MIS is exact: routing is per token, and each query row attends as single-item scoring has it.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.linear import Linear
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
)
from multiscore.models.experts import mix_experts


class TopKSoftmaxRouter(nn.Module):
    """``layer`` [E, H]: the top k logits (float32), softmaxed among themselves."""

    def __init__(self, hidden: int, num_experts: int, top_k: int) -> None:
        super().__init__()
        self.layer = nn.Linear(hidden, num_experts, bias=False)
        self.top_k = top_k

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [T, H] -> (weights [T, k] in x's dtype, experts [T, k])."""
        logits, experts = self.layer(x).float().topk(self.top_k, dim=-1)
        return torch.softmax(logits, dim=-1).to(x.dtype), experts


class ParallelExperts(nn.Module):
    """``weight`` [E, out, in]."""

    def __init__(self, num_experts: int, inputs: int, outputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_experts, outputs, inputs))


class MixtureOfAttention(nn.Module):
    """``self_attention.*``: ``kv_proj`` and ``experts.{router, input_linear, output_linear, bias}``."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, E = config.hidden_size, config.num_local_experts
        self.layer_id, self.top_k = layer_id, config.num_experts_per_tok
        self.num_kv_heads, self.head_dim = config.num_key_value_heads, config.kv_channels
        width = self.num_kv_heads * self.head_dim
        self.kv_proj = Linear(H, 2 * width, bias=False)
        self.experts = nn.Module()
        self.experts.router = TopKSoftmaxRouter(H, E, self.top_k)
        self.experts.input_linear = ParallelExperts(E, H, width)
        self.experts.output_linear = ParallelExperts(E, width, H)
        self.experts.bias = nn.Parameter(torch.empty(H))

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows: Optional[torch.Tensor] = None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T, k, Hkv, D = hidden.shape[0], self.top_k, self.num_kv_heads, self.head_dim
        weights, experts = self.experts.router(hidden)  # [T, k]
        q = hidden.new_empty(T, k, Hkv * D)
        w_in = self.experts.input_linear.weight
        for expert in torch.unique(experts).tolist():
            rows, slot = torch.where(experts == expert)
            q[rows, slot] = F.linear(hidden[rows], w_in[expert])
        q = q.view(T, k, Hkv, D).transpose(1, 2).reshape(T, Hkv * k, D)  # head i·k + j attends kv head i
        keys, values = self.kv_proj(hidden).view(T, 2, Hkv, D).unbind(1)
        q = ctx.ops.norm_rotary(q, None, 0.0, ctx.cos, ctx.sin)
        keys = ctx.ops.norm_rotary(keys.contiguous(), None, 0.0, ctx.cos, ctx.sin)
        out = ctx.attention(q, keys, values.contiguous(), D**-0.5, layer=self.layer_id, rows=keep_rows)  # [R, Hkv·k, D]
        R = out.shape[0]
        out = out.view(R, Hkv, k, D).transpose(1, 2).reshape(R, k, Hkv * D)  # per expert slot
        if keep_rows is not None:
            weights, experts = weights.index_select(0, keep_rows), experts.index_select(0, keep_rows)
        result = hidden.new_zeros(R, hidden.shape[1])
        w_out = self.experts.output_linear.weight
        for expert in torch.unique(experts).tolist():
            rows, slot = torch.where(experts == expert)
            result.index_add_(0, rows, F.linear(out[rows, slot], w_out[expert]) * weights[rows, slot, None])
        return result + self.experts.bias


class JetMoeMlp(nn.Module):
    """``mlp.*``: ``router``, ``input_linear`` [E, 2I, H], ``output_linear`` [E, H, I], ``bias`` [H]."""

    def __init__(self, config) -> None:
        super().__init__()
        H, E, I = config.hidden_size, config.num_local_experts, config.intermediate_size
        self.router = TopKSoftmaxRouter(H, E, config.num_experts_per_tok)
        self.input_linear, self.output_linear = ParallelExperts(E, H, 2 * I), ParallelExperts(E, I, H)
        self.bias = nn.Parameter(torch.empty(H))

    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = self.router(x)
        return mix_experts(x, weights, experts, self._expert) + self.bias

    def _expert(self, expert: int, x: torch.Tensor) -> torch.Tensor:
        gate, up = F.linear(x, self.input_linear.weight[expert]).chunk(2, dim=-1)
        return F.linear(F.silu(gate) * up, self.output_linear.weight[expert])


def jetmoe_options(config) -> BlockOptions:
    return BlockOptions(attention_for_layer=lambda config, options, layer_id: MixtureOfAttention(config, layer_id),
                        mlp_for_layer=lambda config, options, layer_id: JetMoeMlp(config))


_LAYER_NORM_EPS = 1e-6  # the layers' norms keep their default; only the final one reads rms_norm_eps


class _JetMoe:
    options_for = staticmethod(jetmoe_options)
    weight_renames = {".self_attention.": ".self_attn."}

    def make_body(self, config) -> nn.Module:
        body = super().make_body(config)
        for layer in body.layers:
            layer.input_layernorm.eps = layer.post_attention_layernorm.eps = _LAYER_NORM_EPS
        return body

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.activation_function != "silu":
            raise ValueError(f"JetMoE with activation_function {hf_config.activation_function!r} is not supported (silu is)")


class JetMoeForCausalLM(_JetMoe, DecoderForCausalLM):
    pass


class JetMoeForSequenceClassification(_JetMoe, DecoderForSequenceClassification):
    pass


class JetMoeModel(_JetMoe, DecoderForEmbedding):
    pass
