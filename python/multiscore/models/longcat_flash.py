"""LongCat-Flash (Meituan, meituan-longcat/LongCat-Flash-Chat): ``LongcatFlashForCausalLM``, ``LongcatFlashModel``,
and our ``LongcatFlashForSequenceClassification`` (for ``classifier_from_token``).

Each of its ``num_layers`` layers holds two attention + MLP sublayers and one mixture of experts fed from the
first one, whose output joins at the end (a shortcut):

    h = x + attn0(in0(x));   y = post0(h);   moe = experts(y);   h = h + mlp0(y)
    h = h + attn1(in1(h));   out = h + mlp1(post1(h)) + moe

- Attention: DeepSeek-V3's latent attention (models/latent_attention.py, always a query LoRA, the rope part over
  interleaved pairs), the query times √(hidden / q_lora_rank) and the normed key/value latent times
  √(hidden / kv_lora_rank) (folded into ``q_b_proj`` and ``kv_a_layernorm`` as they load). Sublayer j of layer i
  keeps keys and values as attention layer 2i + j (``num_hidden_layers`` is 2 · ``num_layers``).
- Experts: a float32 softmax router (``router.classifier``) over the routed experts and ``zero_expert_num``
  identity ("zero-computation") experts; the top k by score plus ``e_score_correction_bias``, weighted by their
  scores times ``routed_scaling_factor``, never renormalised; an identity expert returns its input.

MIS is exact: everything but attention is per token.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER, FusedOps
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    GatedMLP,
    mlp_activation,
    with_embed_overrides,
)
from multiscore.models.experts import mix_experts
from multiscore.models.latent_attention import LatentAttention, LatentAttentionModel


class ZeroExpertRouter(nn.Module):
    """``mlp.router``: ``classifier`` [E + Z, H] (float32; its bias, where the config has one, is read and, as in
    transformers, never added) and ``e_score_correction_bias`` [E + Z]."""

    def __init__(self, config) -> None:
        super().__init__()
        n = config.n_routed_experts + (config.zero_expert_num or 0)
        self.classifier = nn.Linear(config.hidden_size, n, bias=bool(getattr(config, "router_bias", False)),
                                    dtype=torch.float32)
        self.e_score_correction_bias = nn.Parameter(torch.zeros(n, dtype=torch.float32))
        self.top_k, self.scaling = config.moe_topk, float(config.routed_scaling_factor)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [T, H] -> (weights [T, k] in x's dtype, experts [T, k]; an index >= E is an identity expert)."""
        scores = torch.softmax(F.linear(x.float(), self.classifier.weight.float()), dim=-1)  # [T, E + Z]
        experts = (scores + self.e_score_correction_bias).topk(self.top_k, dim=-1).indices
        return (scores.gather(1, experts) * self.scaling).to(x.dtype), experts


class ZeroExpertMoe(nn.Module):
    """``mlp.router`` and ``mlp.experts.{e}`` (gated MLPs of ``expert_ffn_hidden_size``)."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.router = ZeroExpertRouter(config)
        self.experts = nn.ModuleList(GatedMLP(config, options, config.expert_ffn_hidden_size)
                                     for _ in range(config.n_routed_experts))

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = self.router(x)
        real = len(self.experts)
        return mix_experts(x, weights, experts, lambda expert, rows: self.experts[expert](rows, ops) if expert < real else rows)


class LongcatLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        options = BlockOptions(mlp_act=mlp_activation(config))
        norms = lambda: nn.ModuleList(RMSNorm(config.hidden_size, config.rms_norm_eps) for _ in range(2))  # noqa: E731
        self.mlp = ZeroExpertMoe(config, options)
        self.self_attn = nn.ModuleList(_scaled_latent_attention(config, 2 * layer_id + j) for j in range(2))
        self.mlps = nn.ModuleList(GatedMLP(config, options, config.ffn_hidden_size) for _ in range(2))
        self.input_layernorm, self.post_attention_layernorm = norms(), norms()

    def forward(self, x: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """x [T, H] -> [T, H] (module doc)."""
        shortcut = None
        for j in range(2):
            norm = self.input_layernorm[j]
            x = x + self.self_attn[j](ctx.ops.rms_norm(x, norm.weight, norm.eps), ctx)
            norm = self.post_attention_layernorm[j]
            normed = ctx.ops.rms_norm(x, norm.weight, norm.eps)
            if j == 0:
                shortcut = self.mlp(normed, ctx.ops)
            x = x + self.mlps[j](normed, ctx.ops)
        return x + shortcut


def _scaled_latent_attention(config, layer_id: int) -> LatentAttention:
    attention = LatentAttention(config, layer_id, interleaved_rope=True)
    attention.q_b_proj.output_scale = (config.hidden_size / config.q_lora_rank) ** 0.5
    attention.kv_a_layernorm.output_scale = (config.hidden_size / config.kv_lora_rank) ** 0.5
    return attention


class LongcatBody(nn.Module):
    """``model.*``: ``embed_tokens``, ``layers.N`` (LongcatLayer), ``norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(LongcatLayer(config, i) for i in range(config.num_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, config.qk_rope_head_dim)  # the rope part alone rotates
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        x = with_embed_overrides(self.embed_tokens(input_ids), embed_overrides)  # [T, H]
        cos, sin = self.rotary_emb.cos_sin(positions, x.dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        for layer in self.layers:
            x = layer(x, ctx)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return self.ops.rms_norm(x, self.norm.weight, self.norm.eps)


class _Longcat(LatentAttentionModel):
    def make_body(self, config) -> nn.Module:
        return LongcatBody(config)


class LongcatFlashForCausalLM(_Longcat, DecoderForCausalLM):
    pass


class LongcatFlashForSequenceClassification(_Longcat, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class LongcatFlashModel(_Longcat, DecoderForEmbedding):
    pass
