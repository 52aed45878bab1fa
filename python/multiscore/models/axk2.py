"""A.X K2 (SK Telecom, skt/A.X-K2 and -Light): ``AXK2ForCausalLM``, ``AXK2ForSequenceClassification``,
``AXK2ForTokenClassification``, ``AXK2Model``.

DeepSeek-V3.2's blocks (models/deepseek.py; served below its sparse attention's ``index_topk``, where it picks
every key, the indexers not read) with:
- a query projection ``q_b_proj`` over [q_a_layernorm(c) | c] (the query latent normed and raw, 2·q_lora_rank)
  whose rows per head are [nope | rope | gate (v_head_dim)]; the attention output times σ(gate) (float32);
- gated RMSNorms: y = RMSNorm(x) · σ(W_up(silu(W_down(RMSNorm(x))))) (rank ``gated_norm_rank``), before
  every attention and before the sparse layers' MLPs (dense layers: a plain RMSNorm there);
- groups of experts (where ``n_group`` is set) whose dropped groups score 0, not -inf.

MIS is exact below ``index_topk``: everything but attention is per token.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.linear import Linear, grouped_to_blocked
from multiscore.layers.norm import RMSNorm
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    DecoderLayer,
    DecoderModel,
    ForwardContext,
)
from multiscore.models.deepseek import DeepseekMoeBlock, dsa_options, is_sparse_layer
from multiscore.models.latent_attention import LatentAttention, LatentAttentionModel, rope_pairs_first


class GatedRMSNorm(nn.Module):
    """``norm`` (an RMSNorm) and ``mlp.fc1`` [r, H] / ``mlp.fc2`` [H, r] (the hub's ``W_down`` / ``W_up``)."""

    def __init__(self, config) -> None:
        super().__init__()
        H, r = config.hidden_size, config.gated_norm_rank
        self.norm = RMSNorm(H, config.rms_norm_eps)
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = Linear(H, r, bias=False), Linear(r, H, bias=False)

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        y = ops.rms_norm(x, self.norm.weight, self.norm.eps)
        return (y * torch.sigmoid(self.mlp.fc2(F.silu(self.mlp.fc1(y))).float())).to(y.dtype)


class GatedQueryLatentAttention(LatentAttention):
    """Latent attention whose ``q_b_proj`` reads [normed | raw] query latent and also yields the output gate."""

    def __init__(self, config, layer_id: int) -> None:
        super().__init__(config, layer_id, interleaved_rope=True)
        H, qk, v = self.num_heads, self.qk_dim, self.v_dim
        self.q_b_proj = Linear(2 * config.q_lora_rank, H * (qk + v), bias=False)
        # rows per head [q | gate] -> [every head's q (its rope pairs first) | every head's gate]
        blocked = grouped_to_blocked(H, [qk, v])
        self.q_b_proj.load_row_order = torch.cat([blocked[: H * qk][rope_pairs_first(H, qk, self.rope)], blocked[H * qk:]])

    def queries(self, hidden: torch.Tensor, ctx: ForwardContext) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        latent = self.q_a_proj(hidden)
        norm = self.q_a_layernorm
        both = self.q_b_proj(torch.cat([ctx.ops.rms_norm(latent, norm.weight, norm.eps), latent], dim=-1))
        return both.split([self.num_heads * self.qk_dim, self.num_heads * self.v_dim], dim=-1)


class AXK2Layer(DecoderLayer):
    """A pre-norm layer whose norms are gated (the MLP's on sparse layers only)."""

    def __init__(self, config, options: BlockOptions, window: Optional[int] = None, local_rope: bool = False,
                 layer_id: int = 0) -> None:
        super().__init__(config, options, window, local_rope, layer_id)
        self.input_layernorm = GatedRMSNorm(config)
        if is_sparse_layer(config, layer_id):
            self.post_attention_layernorm = GatedRMSNorm(config)

    def forward(self, hidden: torch.Tensor, residual: Optional[torch.Tensor], ctx: ForwardContext, keep_rows=None):
        """-> (mlp_out, residual), each [T, H] ([R, H] for ``keep_rows``), their sum the layer's output."""
        x = hidden if residual is None else hidden + residual
        attn = self.self_attn(self.input_layernorm(x, ctx.ops), ctx, keep_rows)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        x = x + attn
        norm = self.post_attention_layernorm
        normed = norm(x, ctx.ops) if isinstance(norm, GatedRMSNorm) else ctx.ops.rms_norm(x, norm.weight, norm.eps)
        return self.mlp(normed, ctx.ops), x


class AXK2Body(DecoderModel):
    layer_class = AXK2Layer


def axk2_options(config) -> BlockOptions:
    return replace(dsa_options(config),
                   attention_for_layer=lambda config, options, layer_id: GatedQueryLatentAttention(config, layer_id),
                   mlp_for_layer=_mlp)


def _mlp(config, options: BlockOptions, layer_id: int):
    mlp = dsa_options(config).mlp_for_layer(config, options, layer_id)
    if isinstance(mlp, DeepseekMoeBlock):
        mlp.gate.dropped_group_score = 0.0
    return mlp


class _Axk2(LatentAttentionModel):
    options_for = staticmethod(axk2_options)
    body_class = AXK2Body
    # The hub's names (transformers' q_gate_proj and mlp.fc1 / fc2 read too)
    weight_renames = {".W_down.": ".mlp.fc1.", ".W_up.": ".mlp.fc2.", ".self_attn.q_gate_proj.": ".self_attn.q_b_proj."}



class AXK2ForCausalLM(_Axk2, DecoderForCausalLM):
    pass


class AXK2ForSequenceClassification(_Axk2, DecoderForSequenceClassification):
    pass


class AXK2ForTokenClassification(_Axk2, DecoderForTokenClassification):
    pass


class AXK2Model(_Axk2, DecoderForEmbedding):
    pass
