"""A.X K1 (SK Telecom, skt/A.X-K1): ``AXK1ForCausalLM``, ``AXK1ForSequenceClassification``,
``AXK1ForTokenClassification``, ``AXK1Model``.

DeepSeek-V3's blocks (models/deepseek.py: latent attention, grouped sigmoid experts beside a shared one),
with one change: a sparse layer's MLP output (routed + shared) goes through an RMSNorm,
``post_mlp_layernorm``, before the residual add. The checkpoints store that norm at the layer
(``layers.N.post_mlp_layernorm``, dense layers too, where it is unused); it is read into the MLP. They may
route without ``e_score_correction_bias``, which then counts as zero (as transformers reads them).

MIS is exact: every added step is per token.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from multiscore.layers.fused_ops import FusedOps
from multiscore.layers.norm import RMSNorm
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    GatedMLP,
)
from multiscore.models.deepseek import DeepseekMoeBlock, deepseek_v3_options, is_sparse_layer
from multiscore.models.latent_attention import LatentAttentionModel


class PostNormedMoeBlock(DeepseekMoeBlock):
    """DeepSeek-V3's MoE block, its output RMS-normed (``post_mlp_layernorm``)."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__(config, options, sigmoid=True, float32_router=True, stacked=False)
        self.gate.absent_defaults = {"e_score_correction_bias": 0.0}  # the weight loader's: none stored, none added
        self.post_mlp_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        return ops.rms_norm(super().forward(x, ops), self.post_mlp_layernorm.weight, self.post_mlp_layernorm.eps)


def axk1_options(config) -> BlockOptions:
    return replace(deepseek_v3_options(config), mlp_for_layer=lambda config, options, layer_id: (
        PostNormedMoeBlock(config, options) if is_sparse_layer(config, layer_id) else GatedMLP(config, options)))


class _Axk1(LatentAttentionModel):
    options_for = staticmethod(axk1_options)
    # The layer's norm (as published), or the MLP's (as transformers saves it), read as the MLP's.
    weight_renames = {".mlp.post_mlp_layernorm.": ".post_mlp_layernorm.", ".post_mlp_layernorm.": ".mlp.post_mlp_layernorm."}


class AXK1ForCausalLM(_Axk1, DecoderForCausalLM):
    pass


class AXK1ForSequenceClassification(_Axk1, DecoderForSequenceClassification):
    pass


class AXK1ForTokenClassification(_Axk1, DecoderForTokenClassification):
    pass


class AXK1Model(_Axk1, DecoderForEmbedding):
    pass
