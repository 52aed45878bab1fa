"""Aria's language model (``aria_text``: rhymes-ai/Aria, and ``AriaForConditionalGeneration`` on text): Llama's
attention, and in every layer a mixture of experts beside always-on shared experts.

The router picks each token's ``moe_topk`` experts by their raw logits, weighted by a softmax over those
logits alone. The experts (SiLU-gated whatever ``hidden_act`` says) are stored 3-D and transposed, as the
grouped product reads them: ``experts.fc1`` [E, H, 2I] ([gate | up] along its last dimension) and
``experts.fc2`` [E, I, H]; they load transposed into StackedExperts. The shared experts are one gated MLP
``moe_num_shared_experts`` times as wide, with the config's activation.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
)
from multiscore.models.experts import StackedExperts
from multiscore.models.llama import llama_options


class AriaMoe(nn.Module):
    """``mlp.router``, ``mlp.experts``, ``mlp.shared_experts``: x [T, H] -> [T, H]."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        E, inner = config.moe_num_experts, config.intermediate_size
        self.top_k = config.moe_topk
        self.router = nn.Linear(config.hidden_size, E, bias=False)
        self.experts = StackedExperts(E, config.hidden_size, inner, F.silu)
        self.experts.load_transposed = True  # fc1 [E, H, 2I], fc2 [E, I, H] as stored
        self.shared_experts = GatedMLP(config, options, inner * config.moe_num_shared_experts)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        top_logits, experts = self.router(x).topk(self.top_k, dim=-1)  # [T, k] each
        weights = torch.softmax(top_logits, dim=-1)
        return self.experts(x, weights, experts) + self.shared_experts(x, ops)


def aria_options(config) -> BlockOptions:
    return replace(llama_options(config), mlp_for_layer=lambda c, options, layer_id: AriaMoe(c, options))


class _AriaText:
    options_for = staticmethod(aria_options)
    weight_renames = {".experts.fc1.weight": ".experts.gate_up_proj", ".experts.fc2.weight": ".experts.down_proj"}


class AriaTextForCausalLM(_AriaText, DecoderForCausalLM):
    pass


class AriaTextForSequenceClassification(_AriaText, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class AriaTextModel(_AriaText, DecoderForEmbedding):
    pass
