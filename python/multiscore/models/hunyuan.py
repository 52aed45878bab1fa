"""HunYuan dense (tencent/Hunyuan-0.5B ... 7B-Instruct, ``hunyuan_v1_dense``): Llama's block with an RMSNorm
over each head of q and k *after* rotary (``query_layernorm`` / ``key_layernorm``), and its NTK-alpha
rotary (``rope_type: dynamic`` with ``alpha``: a fixed base of theta · alpha^(d / (d - 2)), at every
length; layers/rotary.py).

HunYuan MoE (tencent/Hunyuan-A13B, ``hunyuan_v1_moe``): the same attention, and in every layer a mixture of
experts (``HunYuanMoeBlock``) beside an always-on shared MLP.

Hy3 (tencent/Hy3-preview, ``hy_v3``): Llama's attention with per-head q/k norms *before* rotary, a dense first
layer, then DeepSeek-V3's experts (``hy_v3_options``)."""

from dataclasses import replace

import torch
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
)
from multiscore.models.deepseek import deepseek_moe_mlp, read_as_deepseek_experts
from multiscore.models.experts import mix_experts
from multiscore.models.llama import llama_options


def hunyuan_options(config):
    return replace(llama_options(config), qk_norm_after_rotary=True)


class _HunYuan:
    options_for = staticmethod(hunyuan_options)
    weight_renames = {"self_attn.query_layernorm.": "self_attn.q_norm.", "self_attn.key_layernorm.": "self_attn.k_norm."}


class HunYuanDenseV1ForCausalLM(_HunYuan, DecoderForCausalLM):
    pass


class HunYuanDenseV1ForSequenceClassification(_HunYuan, DecoderForSequenceClassification):
    pass


class HunYuanDenseV1Model(_HunYuan, DecoderForEmbedding):
    pass


def _per_layer(value, layer_id: int) -> int:
    """A config value given once or per layer (``num_experts``, ``moe_topk``)."""
    return int(value if isinstance(value, int) else value[layer_id])


class HunYuanMoeBlock(nn.Module):
    """``mlp.gate.wg`` (the router [E, H], float32 as transformers declares it), ``mlp.experts.{e}`` and
    ``mlp.shared_mlp`` (gated MLPs of ``intermediate_size``). Routing: a float32 softmax over the experts,
    the top k renormalised."""

    def __init__(self, config, options: BlockOptions, layer_id: int) -> None:
        super().__init__()
        E, self.top_k = _per_layer(config.num_experts, layer_id), _per_layer(config.moe_topk, layer_id)
        self.gate = nn.Module()
        self.gate.wg = nn.Linear(config.hidden_size, E, bias=False, dtype=torch.float32)
        self.experts = nn.ModuleList(GatedMLP(config, options) for _ in range(E))
        self.shared_mlp = GatedMLP(config, options)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = torch.topk(torch.softmax(self.gate.wg(x.float()), dim=-1), self.top_k, dim=-1)  # [T, k]
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = mix_experts(x, weights.to(x.dtype), experts, lambda expert, rows: self.experts[expert](rows, ops))
        return out + self.shared_mlp(x, ops)


def hunyuan_moe_options(config):
    return replace(hunyuan_options(config), mlp_for_layer=lambda config, options, layer_id: HunYuanMoeBlock(
        config, options, layer_id))


class _HunYuanMoe(_HunYuan):
    options_for = staticmethod(hunyuan_moe_options)


class HunYuanMoEV1ForCausalLM(_HunYuanMoe, DecoderForCausalLM):
    pass


class HunYuanMoEV1ForSequenceClassification(_HunYuanMoe, DecoderForSequenceClassification):
    pass


class HunYuanMoEV1Model(_HunYuanMoe, DecoderForEmbedding):
    pass


def hy_v3_options(config):
    """Hy3: Llama's attention with per-head q/k norms before rotary; a dense first layer (``mlp_layer_types``), then
    DeepSeek-V3's experts (sigmoid, the correction bias in the choice, renormalised, times ``router_scaling_factor``)."""
    return replace(llama_options(config), qk_norm=True, mlp_for_layer=deepseek_moe_mlp(sigmoid=True))


class _HYV3:
    options_for = staticmethod(hy_v3_options)
    # The hub's names and transformers' -> DeepseekMoeBlock's.
    weight_renames = {".mlp.router.gate.": ".mlp.gate.", ".mlp.expert_bias": ".mlp.gate.e_score_correction_bias",
                      ".mlp.e_score_correction_bias": ".mlp.gate.e_score_correction_bias", ".mlp.shared_mlp.": ".mlp.shared_experts."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        read_as_deepseek_experts(hf_config, scaling=hf_config.router_scaling_factor)


class HYV3ForCausalLM(_HYV3, DecoderForCausalLM):
    pass


class HYV3ForSequenceClassification(_HYV3, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class HYV3Model(_HYV3, DecoderForEmbedding):
    pass
