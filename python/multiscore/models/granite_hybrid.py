"""Granite 4.0 (transformers' ``granitemoehybrid``: granite-4.0-h-* and granite-4.0-micro):
``GraniteMoeHybridForCausalLM`` (read at label tokens; or made our ``GraniteMoeHybridForSequenceClassification``
by ``classifier_from_token``) and ``GraniteMoeHybridModel``.

Per layer (``layer_types``): Mamba2 (mamba2.py; ``linear_attention``) or attention (GQA, scores scaled
by ``attention_multiplier``, rotary only with ``position_embedding_type: rope``: the H models use none),
then a shared gated MLP (``shared_mlp.input_linear`` = [gate | up], ``output_linear``) plus, with
``num_local_experts``, a sparse mixture of experts (``block_sparse_moe``: top-k of the router's
logits, softmax over those k; experts as 3-D ``input_linear`` / ``output_linear``). Granite's
multipliers: embeddings times ``embedding_multiplier``, each block's output times
``residual_multiplier`` before its residual add (folded into out_proj, o_proj and the shared MLP's
down projection as they load), logits divided by ``logits_scaling``.

MIS is exact (Mamba layers start each item from its query's state, as Qwen3.5's linear layers do);
the prefix cache and embedding overrides are not served for it (they say why).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
    mlp_activation,
    scale_or_none,
)
from multiscore.models.experts import StackedExperts
from multiscore.models.gated_delta_net import (
    MambaHeads,
    RecurrentPlan,
)
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape


class GraniteHybridAttention(nn.Module):
    """GQA attention, rotary only when given; scores scaled by ``scale`` (None: head_dim ** -0.5), the
    output by ``residual_multiplier`` (folded into o_proj as it loads)."""

    def __init__(self, config, layer_id: int, scale: Optional[float], residual_multiplier: float) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.num_heads, self.num_kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = head_dim_of(config)
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        self.qkv_proj = FusedLinear(config.hidden_size, {"q": q, "k": kv, "v": kv}, bias=config.attention_bias)
        self.o_proj = Linear(q, config.hidden_size, bias=config.attention_bias)
        self.o_proj.output_scale = scale_or_none(residual_multiplier)
        self.scale = self.head_dim**-0.5 if scale is None else scale

    def forward(self, hidden: torch.Tensor, rotary, attention: BatchAttention) -> torch.Tensor:
        T, D = hidden.shape[0], self.head_dim
        q, k, v = self.qkv_proj(hidden).split([self.num_heads * D, self.num_kv_heads * D, self.num_kv_heads * D], dim=-1)
        q, k, v = q.view(T, self.num_heads, D), k.view(T, self.num_kv_heads, D), v.view(T, self.num_kv_heads, D)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        out = attention(q, k, v, self.scale, layer=self.layer_id)  # [T, heads, D]
        return self.o_proj(out.reshape(T, self.num_heads * D))


class GraniteExperts(nn.Module):
    """``block_sparse_moe``: ``router`` [E, H] (published as ``router.layer``) and the experts as 3-D
    tensors (published as ``input_linear`` [E, 2I, H], ``output_linear`` [E, H, I]: GRANITE_MOE_NAMES)."""

    def __init__(self, config) -> None:
        super().__init__()
        E, H = config.num_local_experts, config.hidden_size
        self.top_k = config.num_experts_per_tok
        self.router = nn.Linear(H, E, bias=False)
        act = F.silu if mlp_activation(config) == "silu" else (lambda t: F.gelu(t, approximate="tanh"))
        self.experts = StackedExperts(E, H, config.intermediate_size, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [T, H] -> [T, H]: each token's top-k experts, weighted by a softmax over their logits."""
        logits, experts = self.router(x).float().topk(self.top_k, dim=-1)  # [T, k] each
        return self.experts(x, torch.softmax(logits, dim=-1).to(x.dtype), experts)


# Granite's published expert names -> ours.
GRANITE_MOE_NAMES = {
    "block_sparse_moe.router.layer.": "block_sparse_moe.router.",
    "block_sparse_moe.input_linear.weight": "block_sparse_moe.experts.gate_up_proj",
    "block_sparse_moe.output_linear.weight": "block_sparse_moe.experts.down_proj",
}


class GraniteHybridLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        self.is_mamba = config.layer_types[layer_id] == "linear_attention"
        if self.is_mamba:
            self.mamba = Mamba2Mixer(Mamba2Shape.of_granite(config))
            self.mamba.out_proj.output_scale = scale_or_none(config.residual_multiplier)
        else:
            self.self_attn = GraniteHybridAttention(config, layer_id, float(config.attention_multiplier),
                                                    float(config.residual_multiplier))
        self.input_layernorm = RMSNorm(H, eps)
        self.post_attention_layernorm = RMSNorm(H, eps)
        options = BlockOptions(mlp_act=mlp_activation(config), residual_multiplier=float(config.residual_multiplier))
        self.shared_mlp = GatedMLP(config, options, config.shared_intermediate_size)
        self.block_sparse_moe = GraniteExperts(config) if config.num_local_experts else None
        self.residual_multiplier = float(config.residual_multiplier)

    def forward(self, hidden: torch.Tensor, rotary, attention: BatchAttention, plan: RecurrentPlan, ops) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        normed = ops.rms_norm(hidden, self.input_layernorm.weight, self.input_layernorm.eps)
        mixed = self.mamba(normed, plan) if self.is_mamba else self.self_attn(normed, rotary, attention)
        hidden, normed = ops.add_rms_norm(mixed, hidden, self.post_attention_layernorm.weight,
                                          self.post_attention_layernorm.eps)
        out = self.shared_mlp(normed, ops)  # times residual_multiplier already (its down projection's)
        if self.block_sparse_moe is not None:
            out = out + self.block_sparse_moe(normed) * self.residual_multiplier
        return hidden + out


class GraniteHybridBody(nn.Module):
    """``model.*`` of a Granite 4.0 checkpoint."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(GraniteHybridLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        rope = getattr(config, "position_embedding_type", None) == "rope"
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config)) if rope else None
        self.embedding_multiplier = float(config.embedding_multiplier)
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids) * self.embedding_multiplier  # [T, H]
        rotary = None if self.rotary_emb is None else self.rotary_emb.cos_sin(positions, hidden.dtype)
        plan = RecurrentPlan.of(layouts, hidden.device)
        for layer in self.layers:
            hidden = layer(hidden, rotary, attention, plan, self.ops)
        if keep_rows is not None:
            hidden = hidden.index_select(0, keep_rows)
        return self.ops.rms_norm(hidden, self.norm.weight, self.norm.eps)


class _GraniteHybrid(MambaHeads):
    make_body = staticmethod(GraniteHybridBody)
    family = "Granite 4.0"
    weight_renames = {"shared_mlp.input_linear.": "shared_mlp.gate_up_proj.", "shared_mlp.output_linear.": "shared_mlp.down_proj.",
                      **GRANITE_MOE_NAMES}


class GraniteMoeHybridForCausalLM(_GraniteHybrid, DecoderForCausalLM):
    pass


class GraniteMoeHybridForSequenceClassification(_GraniteHybrid, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class GraniteMoeHybridModel(_GraniteHybrid, DecoderForEmbedding):
    pass
