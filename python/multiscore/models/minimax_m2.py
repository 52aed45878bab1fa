"""MiniMax-M2 / M2.1 (``minimax_m2``): Mixtral's layout (every MLP a mixture of experts, the hub's
``block_sparse_moe.experts.{e}.w1/w3/w2``), attention with one RMSNorm over all of q's heads and one over
k's (OLMo 2's, before rotary) and the plain rotary on the first ``rotary_dim`` of each head; the router a
sigmoid whose choice adds ``e_score_correction_bias``, the chosen (unbiased) scores renormalised."""

from __future__ import annotations

import torch
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.experts import mix_experts
from multiscore.models.mistral import MIXTRAL_HUB_NAMES


class MiniMaxM2MoeBlock(nn.Module):
    """``mlp.gate`` (the router [E, H]), ``mlp.e_score_correction_bias`` [E] and ``mlp.experts.{e}``."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        E = config.num_local_experts
        self.top_k = config.num_experts_per_tok
        self.gate = nn.Linear(config.hidden_size, E, bias=False)  # plain: read in the model's dtype, never packed
        self.e_score_correction_bias = nn.Parameter(torch.zeros(E, dtype=torch.float32))
        self.experts = nn.ModuleList(GatedMLP(config, options, config.intermediate_size) for _ in range(E))

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        scores = torch.sigmoid(self.gate(x).float())  # [T, E]
        experts = (scores + self.e_score_correction_bias).topk(self.top_k, dim=-1).indices  # [T, k]
        weights = scores.gather(1, experts)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        return mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))


def minimax_m2_options(config) -> BlockOptions:
    return BlockOptions(qk_norm_across_heads=True, mlp_act=mlp_activation(config),
                        mlp_for_layer=lambda config, options, layer_id: MiniMaxM2MoeBlock(config, options))


class _MiniMaxM2:
    options_for = staticmethod(minimax_m2_options)
    weight_renames = MIXTRAL_HUB_NAMES


class MiniMaxM2ForCausalLM(_MiniMaxM2, DecoderForCausalLM):
    pass


class MiniMaxM2ForSequenceClassification(_MiniMaxM2, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class MiniMaxM2Model(_MiniMaxM2, DecoderForEmbedding):
    pass
