"""MiMo-V2-Flash (Xiaomi, XiaomiMiMo/MiMo-V2-Flash): ``MiMoV2FlashForCausalLM``, ``MiMoV2FlashModel``, and our
``MiMoV2FlashForSequenceClassification`` (for ``classifier_from_token``).

Llama's pre-norm block (GLM-4.7-Flash's) with its own attention:
- queries and keys of ``head_dim`` (192), values of ``v_head_dim`` (128), values times ``attention_value_scale``
  (folded into ``o_proj`` as it loads); a partial rotary (``partial_rotary_factor`` of each head, 0.334 unless the
  rope parameters say) with a base per layer type;
- sliding layers (``layer_types``, ``sliding_window``) have twice the kv heads and a learned sink per head;
- the first MLP dense (``mlp_layer_types``), the others DeepSeek-V3's experts (models/deepseek.py) without shared ones.

Sliding layers differ from full ones in kv heads, read through transformers' ``per_layer_config`` (so the prefix
cache holds each layer's own shape); values are padded to the key width in the attention and cut after it.

MIS is exact: windows and rotary by each item token's single-item position; sinks per query.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import layer_config, layer_windows
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    mlp_activation,
)
from multiscore.models.deepseek import deepseek_moe_mlp

_DEFAULT_ROTARY_SHARE = 0.334  # transformers' default partial_rotary_factor for MiMo-V2-Flash

class MimoV2Attention(nn.Module):
    """``self_attn.*``: q/k/v projections (biased with ``attention_bias``), ``o_proj`` (unbiased), and on sliding
    layers ``sinks`` [Hq]."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.sliding = config.layer_types[layer_id] == "sliding_attention"
        self.local_rope = self.sliding  # the sliding layers' own rotary base
        self.window = layer_windows(config)[layer_id]
        self.num_heads, self.num_kv_heads = config.num_attention_heads, layer_config(config, layer_id).num_key_value_heads
        self.head_dim, self.v_dim = config.head_dim, config.v_head_dim
        self.q_size, self.k_size, self.v_size = (self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim,
                                                 self.num_kv_heads * self.v_dim)
        self.qkv_proj = FusedLinear(config.hidden_size, {"q": self.q_size, "k": self.k_size, "v": self.v_size},
                                    bias=bool(config.attention_bias))
        self.o_proj = Linear(self.num_heads * self.v_dim, config.hidden_size, bias=False)
        scale = config.attention_value_scale
        self.o_proj.output_scale = None if scale is None else float(scale)  # the values' scale, after attention
        self.sinks = nn.Parameter(torch.empty(self.num_heads)) if self.sliding else None
        self.scale = self.head_dim**-0.5

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows=None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T = hidden.shape[0]
        q, k, v = self.qkv_proj(hidden).split([self.q_size, self.k_size, self.v_size], dim=-1)
        cos, sin = ctx.local_cos_sin if self.local_rope and ctx.local_cos_sin else (ctx.cos, ctx.sin)
        q = ctx.ops.norm_rotary(q.view(T, self.num_heads, self.head_dim), None, 0.0, cos, sin)
        k = ctx.ops.norm_rotary(k.view(T, self.num_kv_heads, self.head_dim), None, 0.0, cos, sin)
        v = F.pad(v.view(T, self.num_kv_heads, self.v_dim), (0, self.head_dim - self.v_dim))  # zero columns, cut below
        out = ctx.attention(q, k, v, self.scale, None, self.window, layer=self.layer_id, sinks=self.sinks,
                            rows=keep_rows)[..., : self.v_dim]  # [R, Hq, Dv]
        return self.o_proj(out.reshape(out.shape[0], self.num_heads * self.v_dim))

def mimo_v2_options(config) -> BlockOptions:
    return BlockOptions(mlp_act=mlp_activation(config), mlp_for_layer=deepseek_moe_mlp(sigmoid=True),
                        attention_for_layer=lambda config, options, layer_id: MimoV2Attention(config, layer_id))

class _MimoV2:
    options_for = staticmethod(mimo_v2_options)
    weight_renames = {".self_attn.attention_sink_bias": ".self_attn.sinks"}  # the hub's name

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.v_head_dim > hf_config.head_dim:
            raise ValueError(f"v_head_dim {hf_config.v_head_dim} wider than head_dim {hf_config.head_dim} is not supported")
        for params in hf_config.rope_parameters.values():  # transformers' default share where the parameters name none
            params.setdefault("partial_rotary_factor", _DEFAULT_ROTARY_SHARE)
        kv = hf_config.num_key_value_heads
        sliding = [i for i, t in enumerate(hf_config.layer_types) if t == "sliding_attention"]
        if sliding:  # twice the kv heads on the sliding layers: each layer's own, as Gemma 4's
            hf_config.per_layer_config = {i: {"num_key_value_heads": 2 * kv} for i in sliding}

class MiMoV2FlashForCausalLM(_MimoV2, DecoderForCausalLM):
    pass

class MiMoV2FlashForSequenceClassification(_MimoV2, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

class MiMoV2FlashModel(_MimoV2, DecoderForEmbedding):
    pass
