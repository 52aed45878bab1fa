"""The DeepSeek-V2/V3 family: multi-head latent attention (models/latent_attention.py) with its rope part
over interleaved pairs, and from ``first_k_dense_replace`` on (GLM-4.7-Flash: where ``mlp_layer_types``
says "sparse"), a mixture of experts beside always-on shared experts (``DeepseekMoeBlock``).

- DeepSeek-V2 / V2-Lite / V2.5 (``deepseek_v2``): a softmax router, top k over every expert
  (``topk_method`` "greedy") or within the ``topk_group`` groups with the highest best expert
  ("group_limited_greedy"); the weights never renormalised.
- DeepSeek-V3 / V3.1 / R1, Kimi K2, Moonlight (``deepseek_v3``) and GLM-4.7-Flash (``glm4_moe_lite``):
  a sigmoid router whose choice adds ``e_score_correction_bias``, within the groups whose two best
  experts score highest; the weights (unbiased) renormalised when ``norm_topk_prob``.
- dots.llm1 (``dots1``: Qwen3's attention, sliding layers by ``layer_types``) and Solar Open (``solar_open``:
  Llama's attention, every layer sparse): V3's experts behind grouped-query attention (as GLM-4.5's,
  models/glm.py).
- DeepSeek-OCR 2's language model (``deepseek_ocr2_text``, on text; our ``DeepseekOcr2TextForCausalLM``): Llama's
  attention before V2's experts (a softmax router, never renormalised), dense where ``mlp_layer_types`` says.
- Mistral Small 4 (``mistral4``): V3's blocks with a softmax router in the model's dtype (groups
  scored by their two best, no bias), and Llama 4's query temperature (``llama_4_scaling_beta``).

Every family scales the weights by ``routed_scaling_factor``. Routing is per token, so MIS and single-item
route alike. The routers of V2, V3 and GLM-4.7-Flash run in float32 (transformers keeps their weights in
float32 in any dtype; so do we).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.experts import StackedExperts, mix_experts
from multiscore.models.latent_attention import LatentAttention, LatentAttentionModel
from multiscore.models.mistral import mistral_options
from multiscore.models.llama import llama_options
from multiscore.models.qwen3 import qwen3_options


class DeepseekRouter(nn.Module):
    """``mlp.gate``: the router ``weight`` [E, H] (and V3's ``e_score_correction_bias`` [E])."""

    def __init__(self, config, sigmoid: bool, float32: bool) -> None:
        super().__init__()
        E = config.n_routed_experts
        self.top_k, self.sigmoid, self.float32 = config.num_experts_per_tok, sigmoid, float32
        self.weight = nn.Parameter(torch.empty(E, config.hidden_size, dtype=torch.float32 if float32 else None))
        self.e_score_correction_bias = nn.Parameter(torch.zeros(E, dtype=torch.float32)) if sigmoid else None
        self.groups = config.n_group or 1
        self.top_groups = config.topk_group or self.groups
        # V2 scores a group by its best expert, the later ones by the sum of their two best.
        self.group_by_best = getattr(config, "topk_method", None) == "group_limited_greedy"
        if getattr(config, "topk_method", None) == "greedy":
            self.groups = self.top_groups = 1
        # V2's experts (DeepSeek-OCR 2's too) never renormalise (their config's norm_topk_prob is not read).
        self.renormalise = (bool(getattr(config, "norm_topk_prob", False))
                            and config.model_type not in ("deepseek_v2", "deepseek_ocr2_text", "unlimited_ocr_text"))
        self.scaling = float(config.routed_scaling_factor)
        self.logit_softcap: Optional[float] = None  # Laguna: logits -> cap · tanh(logits / cap) first
        self.dropped_group_score = float("-inf")  # A.X K2: 0 (an expert outside the best groups may still win)
        if E % self.groups:
            raise ValueError(f"n_routed_experts {E} does not split into n_group {self.groups} groups")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [T, H] -> (weights [T, k] in x's dtype, experts [T, k])."""
        logits = F.linear(x.float(), self.weight.float()) if self.float32 else F.linear(x, self.weight)  # [T, E]
        if self.logit_softcap:
            logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
        scores = torch.sigmoid(logits) if self.sigmoid else torch.softmax(logits, dim=-1)
        choice = scores if self.e_score_correction_bias is None else scores + self.e_score_correction_bias
        if self.top_groups < self.groups:  # only experts in the best groups may be chosen
            grouped = choice.view(x.shape[0], self.groups, -1)  # [T, G, E / G]
            group_scores = grouped.amax(-1) if self.group_by_best else grouped.topk(2, dim=-1).values.sum(-1)
            kept = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(
                1, group_scores.topk(self.top_groups, dim=-1).indices, True)  # [T, G]
            choice = grouped.masked_fill(~kept[..., None], self.dropped_group_score).view_as(choice)
        experts = choice.topk(self.top_k, dim=-1).indices  # [T, k]
        weights = scores.gather(1, experts)
        if self.renormalise:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        return (weights * self.scaling).to(x.dtype), experts


class DeepseekMoeBlock(nn.Module):
    """``mlp.gate`` (DeepseekRouter), ``mlp.experts`` and ``mlp.shared_experts`` (a gated MLP). The experts
    as the hub ships each family: one gated MLP each (``mlp.experts.{e}.*``), or ``stacked`` 3-D
    (Mistral Small 4, transformers 5's own layout: StackedExperts)."""

    def __init__(self, config, options: BlockOptions, sigmoid: bool, float32_router: bool, stacked: bool) -> None:
        super().__init__()
        E, inner = config.n_routed_experts, config.moe_intermediate_size
        self.gate = DeepseekRouter(config, sigmoid, float32_router)
        self.stacked = stacked
        self.experts = (StackedExperts(E, config.hidden_size, inner, F.silu) if stacked
                        else nn.ModuleList(GatedMLP(config, options, inner) for _ in range(E)))
        shared = getattr(config, "n_shared_experts", None) or 0
        self.shared_experts = GatedMLP(config, options, inner * shared) if shared else None

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = self.gate(x)
        out = (self.experts(x, weights, experts) if self.stacked
               else mix_experts(x, weights, experts, lambda expert, rows: self.experts[expert](rows, ops)))
        return out if self.shared_experts is None else out + self.shared_experts(x, ops)


def is_sparse_layer(config, layer_id: int) -> bool:
    types = getattr(config, "mlp_layer_types", None)  # GLM-4.7-Flash
    # Solar Open's config has no first_k_dense_replace: every layer sparse
    return types[layer_id] == "sparse" if types else layer_id >= (getattr(config, "first_k_dense_replace", 0) or 0)


def read_as_deepseek_experts(hf_config, scaling: Optional[float] = None) -> None:
    """A config that names its experts ``num_experts`` / ``num_shared_experts`` (K-EXAONE, AFMoE, Hy3) read under
    DeepSeek-V3's names, which DeepseekMoeBlock reads. ``scaling``: a router of one group, always renormalised,
    its weights times ``scaling`` (its own name for ``routed_scaling_factor``)."""
    hf_config.n_routed_experts, hf_config.n_shared_experts = hf_config.num_experts, hf_config.num_shared_experts
    if scaling is not None:
        hf_config.routed_scaling_factor = scaling
        hf_config.n_group = hf_config.topk_group = 1
        hf_config.norm_topk_prob = True


def deepseek_moe_mlp(sigmoid: bool, float32_router: bool = True, stacked: bool = False):
    """A BlockOptions.mlp_for_layer: DeepseekMoeBlock in the sparse layers, a GatedMLP in the others
    (also GLM-4.5's, models/glm.py)."""
    return lambda config, options, layer_id: (
        DeepseekMoeBlock(config, options, sigmoid, float32_router, stacked) if is_sparse_layer(config, layer_id)
        else GatedMLP(config, options))


def _family_options(base: BlockOptions, sigmoid: bool, float32_router: bool, interleaved: bool,
                    stacked: bool = False) -> BlockOptions:
    return replace(
        base,
        attention_for_layer=lambda config, options, layer_id: LatentAttention(config, layer_id, interleaved_rope=interleaved),
        mlp_for_layer=deepseek_moe_mlp(sigmoid, float32_router, stacked))


def deepseek_v2_options(config) -> BlockOptions:
    return _family_options(BlockOptions(mlp_act=mlp_activation(config)), sigmoid=False, float32_router=True,
                           interleaved=True)


def deepseek_v3_options(config) -> BlockOptions:
    """DeepSeek-V3 and GLM-4.7-Flash."""
    return _family_options(BlockOptions(mlp_act=mlp_activation(config)), sigmoid=True, float32_router=True,
                           interleaved=bool(getattr(config, "rope_interleave", True)))


def deepseek_ocr2_options(config) -> BlockOptions:
    return replace(llama_options(config), mlp_for_layer=deepseek_moe_mlp(sigmoid=False))


def mistral4_options(config) -> BlockOptions:
    return _family_options(mistral_options(config), sigmoid=False, float32_router=False,
                           interleaved=bool(getattr(config, "rope_interleave", True)), stacked=True)


class _DeepseekV2(LatentAttentionModel):
    options_for = staticmethod(deepseek_v2_options)


class DeepseekV2ForCausalLM(_DeepseekV2, DecoderForCausalLM):
    pass


class DeepseekV2ForSequenceClassification(_DeepseekV2, DecoderForSequenceClassification):
    pass


class DeepseekV2Model(_DeepseekV2, DecoderForEmbedding):
    pass


class _DeepseekV3(LatentAttentionModel):
    options_for = staticmethod(deepseek_v3_options)


class DeepseekV3ForCausalLM(_DeepseekV3, DecoderForCausalLM):
    pass


class DeepseekV3ForSequenceClassification(_DeepseekV3, DecoderForSequenceClassification):
    pass


class DeepseekV3ForTokenClassification(_DeepseekV3, DecoderForTokenClassification):
    pass


class DeepseekV3Model(_DeepseekV3, DecoderForEmbedding):
    pass


class Glm4MoeLiteForCausalLM(_DeepseekV3, DecoderForCausalLM):
    pass


class Glm4MoeLiteForSequenceClassification(_DeepseekV3, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Glm4MoeLiteModel(_DeepseekV3, DecoderForEmbedding):
    pass


def youtu_options(config) -> BlockOptions:
    """Youtu-LLM: DeepSeek-V3's latent attention, a dense MLP in every layer."""
    return replace(deepseek_v3_options(config), mlp_for_layer=None)


class _Youtu(LatentAttentionModel):
    options_for = staticmethod(youtu_options)


class YoutuForCausalLM(_Youtu, DecoderForCausalLM):
    pass


class YoutuForSequenceClassification(_Youtu, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class YoutuModel(_Youtu, DecoderForEmbedding):
    pass


def dsa_options(config) -> BlockOptions:
    """DeepSeek-V3.2 and GLM-5: DeepSeek-V3's, the rope part always over interleaved pairs. Their sparse
    attention (each token's top ``index_topk`` keys by the layer's indexer) sees every key below that many,
    where the context stops (attention_geometry.dense_attention_limit): the indexer's weights are not read."""
    return _family_options(BlockOptions(mlp_act=mlp_activation(config)), sigmoid=True, float32_router=True,
                           interleaved=True)


class _Dsa(LatentAttentionModel):
    options_for = staticmethod(dsa_options)


class DeepseekV32ForCausalLM(_Dsa, DecoderForCausalLM):
    pass


class DeepseekV32ForSequenceClassification(_Dsa, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class DeepseekV32Model(_Dsa, DecoderForEmbedding):
    pass


class GlmMoeDsaForCausalLM(_Dsa, DecoderForCausalLM):
    pass


class GlmMoeDsaForSequenceClassification(_Dsa, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class GlmMoeDsaModel(_Dsa, DecoderForEmbedding):
    pass


class _Mistral4(LatentAttentionModel):
    options_for = staticmethod(mistral4_options)


class Mistral4ForCausalLM(_Mistral4, DecoderForCausalLM):
    pass


class Mistral4ForSequenceClassification(_Mistral4, DecoderForSequenceClassification):
    pass


class Mistral4ForTokenClassification(_Mistral4, DecoderForTokenClassification):
    pass


class Mistral4Model(_Mistral4, DecoderForEmbedding):
    pass


def dots1_options(config) -> BlockOptions:
    return replace(qwen3_options(config), mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


def solar_open_options(config) -> BlockOptions:
    return BlockOptions(qkv_bias=bool(getattr(config, "attention_bias", False)), mlp_act=mlp_activation(config),
                        mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


class Dots1ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(dots1_options)


class Dots1ForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(dots1_options)


class Dots1Model(DecoderForEmbedding):
    options_for = staticmethod(dots1_options)


class SolarOpenForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(solar_open_options)


class SolarOpenForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(solar_open_options)


class SolarOpenModel(DecoderForEmbedding):
    options_for = staticmethod(solar_open_options)


class DeepseekOcr2TextForCausalLM(DecoderForCausalLM):
    """Ours (transformers serves it only inside DeepseekOcr2ForConditionalGeneration)."""

    options_for = staticmethod(deepseek_ocr2_options)


class DeepseekOcr2TextForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(deepseek_ocr2_options)
