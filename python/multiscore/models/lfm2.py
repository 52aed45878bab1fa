"""LFM2 (Liquid AI's LFM2-350M ... 2.6B and their fine-tunes): ``Lfm2ForCausalLM`` (read at label
tokens; or made our ``Lfm2ForSequenceClassification`` by ``classifier_from_token``) and ``Lfm2Model``.

Per layer (``layer_types``), RMSNorm before each part (``operator_norm``, ``ffn_norm``):
- ``conv`` layers, a gated short convolution: ``in_proj`` gives B, C, x [T, H] each; B·x runs
  through a causal depthwise convolution of ``conv_L_cache`` (3) taps, C gates its output, then
  ``out_proj``;
- ``full_attention`` layers: GQA with a per-head RMSNorm on q and k (``q_layernorm``, ``k_layernorm``),
  rotary, ``out_proj``;
then a SwiGLU MLP (``feed_forward.w1`` gate, ``w3`` up, ``w2`` down; its width adjusted from
``intermediate_size`` as transformers does), and a final ``embedding_norm``.

LFM2-MoE (``Lfm2MoeForCausalLM``, ``Lfm2MoeModel``: LFM2-8B-A1B): the same layers, dense MLPs of
``intermediate_size`` in the first ``num_dense_layers``, then sparse ones (``Lfm2MoeBlock``).

LFM3 (``Lfm3ForCausalLM``, ``Lfm3Model``: LFM3-1.7B): convolutions of 7 taps; attention layers under
Qwen3's names, full or sliding (``sliding_window``), each kind with its own rotary (the full layers'
``proportional`` over half of each head), each head's output times σ(``g_proj``(x)); every layer's
attention or convolution output, and its MLP's, RMS-normed before its residual add
(``post_operator_norm``, ``post_ffn_norm``); MLPs of ``intermediate_size``.

MIS is exact: a convolution layer's item starts from its query's last ``conv_L_cache - 1`` inputs
(gated_delta_net.roots_then_items, with no state beyond that history); the prefix cache is off for
it (cached keys carry no convolution inputs), and embedding overrides are a 400.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding, per_layer_type_rope
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    GatedMLP,
)
from multiscore.models.experts import mix_experts
from multiscore.models.gated_delta_net import (
    RecurrentHeads,
    RecurrentPlan,
    causal_depthwise_conv,
    roots_then_items,
    run_hybrid_layers,
)


def mlp_width(config) -> int:
    """transformers' Lfm2MLP width: 2/3 of ``intermediate_size``, times ``block_ffn_dim_multiplier``,
    rounded up to ``block_multiple_of`` (with ``block_auto_adjust_ff_dim``)."""
    width = config.intermediate_size
    if getattr(config, "block_auto_adjust_ff_dim", False):
        width = int(2 * width / 3)
        if getattr(config, "block_ffn_dim_multiplier", None) is not None:
            width = int(config.block_ffn_dim_multiplier * width)
            multiple = config.block_multiple_of
            width = multiple * ((width + multiple - 1) // multiple)
    return width


class ShortConv(nn.Module):
    """``conv.*``: ``in_proj`` [3H, H], ``conv`` (weight [H, 1, K], bias with ``conv_bias``), ``out_proj``."""

    def __init__(self, config) -> None:
        super().__init__()
        H, self.kernel = config.hidden_size, config.conv_L_cache
        bias = bool(getattr(config, "conv_bias", False))
        self.in_proj = Linear(H, 3 * H, bias=bias)
        self.conv = nn.Conv1d(H, H, self.kernel, groups=H, bias=bias)  # its parameters only: run as below
        self.out_proj = Linear(H, H, bias=bias)

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]. Delimiter rows are read by nothing: they get zeros."""
        b, c, x = self.in_proj(hidden).chunk(3, dim=-1)  # [T, H] each
        bx = b * x
        out = torch.zeros_like(bx)

        def run(inputs: torch.Tensor, history: Optional[torch.Tensor], groups, state) -> torch.Tensor:
            y = causal_depthwise_conv(inputs, history, self.conv.weight, self.conv.bias)  # [B, L, H]
            out.index_copy_(0, groups.rows[groups.valid], y[groups.valid])
            return inputs.new_zeros(inputs.shape[0], 0)  # no state beyond the convolution's history

        roots_then_items(bx, plan, self.kernel, run)
        return self.out_proj(c * out)


class Lfm2MoeBlock(nn.Module):
    """``feed_forward.*`` of LFM2-MoE's sparse layers: the router ``gate`` [E, H], ``expert_bias`` [E]
    and ``experts.{e}`` SwiGLUs of ``moe_intermediate_size``. Each token takes the top k of its
    sigmoid scores plus the bias (with ``use_expert_bias``), weighted by the scores alone, renormalised
    (``norm_topk_prob``) and times ``routed_scaling_factor``."""

    def __init__(self, config) -> None:
        super().__init__()
        E = config.num_experts
        self.top_k, self.norm_topk_prob = config.num_experts_per_tok, bool(config.norm_topk_prob)
        self.scaling = float(config.routed_scaling_factor)
        self.gate = Linear(config.hidden_size, E, bias=False)
        self.expert_bias = nn.Parameter(torch.zeros(E)) if config.use_expert_bias else None
        self.experts = nn.ModuleList(GatedMLP(config, BlockOptions(), config.moe_intermediate_size) for _ in range(E))

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        scores = torch.sigmoid(self.gate(x).float())  # [T, E]
        chosen = scores if self.expert_bias is None else scores + self.expert_bias.float()
        experts = torch.topk(chosen, self.top_k, dim=-1).indices  # [T, k]
        weights = scores.gather(1, experts)
        if self.norm_topk_prob:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-6)
        return mix_experts(x, weights * self.scaling, experts, lambda e, rows: self.experts[e](rows, ops))


class Lfm2Layer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        layer_type = config.layer_types[layer_id]
        self.is_conv = layer_type == "conv"
        if self.is_conv:
            self.conv = ShortConv(config)
        else:  # LFM3: sliding layers (their own rotary) and a gate per head
            sliding = layer_type == "sliding_attention"
            options = BlockOptions(qk_norm=True, head_output_gate=bool(getattr(config, "use_attention_gate", False)))
            self.self_attn = DecoderAttention(config, options, config.sliding_window if sliding else None,
                                              local_rope=sliding, layer_id=layer_id)
        self.operator_norm = RMSNorm(config.hidden_size, config.norm_eps)
        self.ffn_norm = RMSNorm(config.hidden_size, config.norm_eps)
        self.sandwich = bool(getattr(config, "use_sandwich_norm", False))  # LFM3: both outputs normed before their adds
        if self.sandwich:
            self.post_operator_norm = RMSNorm(config.hidden_size, config.norm_eps)
            self.post_ffn_norm = RMSNorm(config.hidden_size, config.norm_eps)
        if getattr(config, "num_experts", None) is None:  # LFM2
            self.mlp = GatedMLP(config, BlockOptions(), mlp_width(config))
        elif layer_id < config.num_dense_layers:  # LFM2-MoE's dense layers: no width adjustment
            self.mlp = GatedMLP(config, BlockOptions(), config.intermediate_size)
        else:
            self.mlp = Lfm2MoeBlock(config)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        normed = ctx.ops.rms_norm(hidden, self.operator_norm.weight, self.operator_norm.eps)
        mixed = self.conv(normed, plan) if self.is_conv else self.self_attn(normed, ctx)
        if self.sandwich:
            mixed = ctx.ops.rms_norm(mixed, self.post_operator_norm.weight, self.post_operator_norm.eps)
        hidden, normed = ctx.ops.add_rms_norm(mixed, hidden, self.ffn_norm.weight, self.ffn_norm.eps)
        out = self.mlp(normed, ctx.ops)
        if self.sandwich:
            out = ctx.ops.rms_norm(out, self.post_ffn_norm.weight, self.post_ffn_norm.eps)
        return hidden + out


class Lfm2Body(nn.Module):
    """``model.*`` of an LFM2 checkpoint."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Lfm2Layer(config, i) for i in range(config.num_hidden_layers))
        self.embedding_norm = RMSNorm(config.hidden_size, config.norm_eps)
        # LFM3: full and sliding layers rotate with their own parameters (``rope_parameters`` by layer type).
        per_type = per_layer_type_rope(config)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config), "full_attention" if per_type else None)
        self.local_rotary_emb = RotaryEmbedding(config, head_dim_of(config), "sliding_attention") if per_type else None
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, hidden.dtype)
        local = None if self.local_rotary_emb is None else self.local_rotary_emb.cos_sin(positions, hidden.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops, local_cos_sin=local)
        return run_hybrid_layers(self.layers, hidden, ctx, layouts, keep_rows, self.embedding_norm)


class _Lfm2(RecurrentHeads):
    make_body = staticmethod(Lfm2Body)
    family = "LFM2"
    # Checkpoint names -> ours (DecoderAttention's, GatedMLP's through DECODER_PACKED_MODULES); LFM2-MoE's
    # experts as the hub stores them (``feed_forward.experts.{e}.w1`` ...). Applied in order.
    weight_renames = {"self_attn.out_proj.": "self_attn.o_proj.", "self_attn.q_layernorm.": "self_attn.q_norm.",
                      "self_attn.k_layernorm.": "self_attn.k_norm.", "self_attn.gate_proj.": "self_attn.g_proj.",  # LFM3's gate
                      "feed_forward.": "mlp.", ".w1.": ".gate_proj.", ".w3.": ".up_proj.", ".w2.": ".down_proj."}
    prefix_cache_problem = "its convolution layers read each token's preceding inputs, which cached keys do not carry"
    embed_overrides_problem = "not implemented for its convolution layers (refused before any batch runs)"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """DecoderAttention's per-head norms read ``rms_norm_eps``; LFM2 names it ``norm_eps``."""
        hf_config.rms_norm_eps = hf_config.norm_eps


class Lfm2ForCausalLM(_Lfm2, DecoderForCausalLM):
    pass


class Lfm2ForSequenceClassification(_Lfm2, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Lfm2Model(_Lfm2, DecoderForEmbedding):
    pass


# LFM2-MoE and LFM3: the same classes (the config chooses the MLPs, layer types, gates and norms).
Lfm2MoeForCausalLM, Lfm2MoeForSequenceClassification, Lfm2MoeModel = Lfm2ForCausalLM, Lfm2ForSequenceClassification, Lfm2Model
Lfm3ForCausalLM, Lfm3ForSequenceClassification, Lfm3Model = Lfm2ForCausalLM, Lfm2ForSequenceClassification, Lfm2Model
