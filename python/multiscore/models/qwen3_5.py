"""Qwen3.5 (text; dense, and the MoE's sparse MLPs: sparse_moe.py), and Qwen3-Next before it: a hybrid of linear-attention layers (gated_delta_net.py) and, every
``full_attention_interval``-th layer (``layer_types``), Qwen3's attention with a sigmoid output gate:
q_proj gives each head its query and its gate side by side. RMSNorms scale by ``1 + w``; rotary is
partial (``partial_rotary_factor``, 0.25) and, on text, its M-RoPE components are equal (the plain rotary).

MIS is exact: attention layers see single-item positions as every decoder here; linear-attention
layers start each item from its query's state, in torch on any device. Not served: the prefix cache
(a linear layer's state is not per-token keys: the worker says so at start-up) and embedding
overrides (refused as a bad request). Not run on a GPU.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    mlp_activation,
)
from multiscore.models.gated_delta_net import GatedDeltaNet, Qwen3NextGatedDeltaNet, RecurrentHeads, RecurrentPlan
from multiscore.models.sparse_moe import moe_or_dense_mlp


class GatedAttention(nn.Module):
    """``self_attn.*``: q_proj [heads · 2 · D, H] holds, per head, its query rows then its gate rows."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.num_heads, self.num_kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = head_dim_of(config)
        self.q_size, self.kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        bias = bool(config.attention_bias)
        self.qkv_proj = FusedLinear(config.hidden_size, {"q": 2 * self.q_size, "k": self.kv_size, "v": self.kv_size},
                                    bias=bias)
        self.o_proj = Linear(self.q_size, config.hidden_size, bias=bias)
        self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps, 1.0)
        self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps, 1.0)

    def forward(self, hidden: torch.Tensor, cos, sin, attention: BatchAttention, ops) -> torch.Tensor:
        T, D = hidden.shape[0], self.head_dim
        q_gate, k, v = self.qkv_proj(hidden).split([2 * self.q_size, self.kv_size, self.kv_size], dim=-1)
        q_gate = q_gate.view(T, self.num_heads, 2 * D)
        q = ops.norm_rotary(q_gate[..., :D], self.q_norm.weight, self.q_norm.eps, cos, sin)
        k = ops.norm_rotary(k.view(T, self.num_kv_heads, D), self.k_norm.weight, self.k_norm.eps, cos, sin)
        out = attention(q, k, v.view(T, self.num_kv_heads, D), D**-0.5, layer=self.layer_id)  # [T, Hq, D]
        gate = torch.sigmoid(q_gate[..., D:])  # [T, Hq, D]
        return self.o_proj((out * gate).reshape(T, self.q_size))


class Qwen3_5Layer(nn.Module):
    def __init__(self, config, layer_id: int, delta_net: type = GatedDeltaNet) -> None:
        super().__init__()
        self.linear = config.layer_types[layer_id] == "linear_attention"
        if self.linear:
            self.linear_attn = delta_net(config)
        else:
            self.self_attn = GatedAttention(config, layer_id)
        options = BlockOptions(mlp_act=mlp_activation(config))
        self.mlp = moe_or_dense_mlp(config, options, layer_id)  # dense without num_experts
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, 1.0)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, 1.0)

    def forward(self, hidden: torch.Tensor, cos, sin, attention: BatchAttention, plan: RecurrentPlan, ops) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        normed = ops.rms_norm(hidden, self.input_layernorm.weight, self.input_layernorm.eps)
        if self.linear:
            mixed = self.linear_attn(normed, plan)
        else:
            mixed = self.self_attn(normed, cos, sin, attention, ops)
        hidden, normed = ops.add_rms_norm(mixed, hidden, self.post_attention_layernorm.weight,
                                          self.post_attention_layernorm.eps)
        return hidden + self.mlp(normed, ops)


class Qwen3_5Body(nn.Module):
    """``model.*`` of a Qwen3.5 text checkpoint."""

    delta_net = GatedDeltaNet  # its linear-attention layers' class

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Qwen3_5Layer(config, i, self.delta_net) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps, 1.0)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config))
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, hidden.dtype)
        plan = RecurrentPlan.of(layouts, hidden.device)
        for layer in self.layers:
            hidden = layer(hidden, cos, sin, attention, plan, self.ops)
        if keep_rows is not None:
            hidden = hidden.index_select(0, keep_rows)
        return self.ops.rms_norm(hidden, self.norm.weight, self.norm.eps)


class _Qwen3_5(RecurrentHeads):
    make_body = staticmethod(Qwen3_5Body)
    family = "Qwen3.5"
    prefix_cache_problem = "its linear-attention layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its linear-attention layers (refused before any batch runs)"


class Qwen3_5ForCausalLM(_Qwen3_5, DecoderForCausalLM):
    pass


class Qwen3_5ForSequenceClassification(_Qwen3_5, DecoderForSequenceClassification):
    pass


class Qwen3_5TextModel(_Qwen3_5, DecoderForEmbedding):
    pass


Qwen3_5TextForSequenceClassification = Qwen3_5ForSequenceClassification
# Qwen3.5-MoE: the same layers, every MLP sparse (the config's num_experts).
Qwen3_5MoeForCausalLM = Qwen3_5ForCausalLM
Qwen3_5MoeTextModel = Qwen3_5TextModel


class Qwen3NextBody(Qwen3_5Body):
    """Qwen3-Next (Qwen3.5's precursor): the same layers, its linear-attention projections fused per key head."""

    delta_net = Qwen3NextGatedDeltaNet


class _Qwen3Next(_Qwen3_5):
    make_body = staticmethod(Qwen3NextBody)
    family = "Qwen3-Next"


class Qwen3NextForCausalLM(_Qwen3Next, DecoderForCausalLM):
    pass


class Qwen3NextForSequenceClassification(_Qwen3Next, DecoderForSequenceClassification):
    pass


class Qwen3NextForTokenClassification(_Qwen3Next, DecoderForTokenClassification):
    pass


class Qwen3NextModel(_Qwen3Next, DecoderForEmbedding):
    pass
