"""DBRX (databricks/dbrx-base, dbrx-instruct): ``DbrxForCausalLM``, ``DbrxModel``, and our
``DbrxForSequenceClassification`` (for ``classifier_from_token``).

Pre-norm blocks with LayerNorms without bias (``norm_1``, ``norm_2``; eps 1e-5); Llama's grouped-query attention
from one fused ``Wqkv`` ([q | k | v]), clamped to ±``clip_qkv``; every MLP a mixture of experts: a softmax router
(``router.layer``, in the model's dtype), the top ``moe_top_k`` weights divided by their
``moe_normalize_expert_weights``-norm, SwiGLU experts stored as three [E·I, H] tensors (``w1`` gate, ``v1`` up,
``w2`` down, the last read [I, H] per expert). Checkpoints name the body ``transformer.`` (``wte``, ``blocks.N``,
``norm_f``), served under the decoder's names as they load.

MIS is exact: routing and the clamp are per token.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.models.cohere import ParallelBody
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.experts import mix_experts
from multiscore.models.layernorm_decoders import SequentialLayer

_LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which DBRX's norms keep


class DbrxExperts(nn.Module):
    """``ffn.*``: ``router.layer`` [E, H] and ``experts.mlp.{w1, v1, w2}`` [E·I, H] each."""

    def __init__(self, config) -> None:
        super().__init__()
        ffn = config.ffn_config
        E, I, H = ffn.moe_num_experts, ffn.ffn_hidden_size, config.hidden_size
        self.router = nn.Module()
        self.router.layer = nn.Linear(H, E, bias=False)
        self.experts = nn.Module()
        self.experts.mlp = nn.Module()
        for name in ("w1", "v1", "w2"):
            setattr(self.experts.mlp, name, nn.Parameter(torch.empty(E * I, H)))
        self.top_k, self.inner, self.p = ffn.moe_top_k, I, ffn.moe_normalize_expert_weights

    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:
        """x [T, H] -> [T, H] (``ops``: the decoder MLPs' protocol, unused)."""
        probs = torch.softmax(self.router.layer(x), dim=-1)  # [T, E]
        weights, experts = torch.topk(probs, self.top_k, dim=-1)
        if self.p is not None:
            weights = weights / torch.norm(weights, p=self.p, dim=-1, keepdim=True)
        return mix_experts(x, weights, experts, self._expert)

    def _expert(self, expert: int, x: torch.Tensor) -> torch.Tensor:
        rows = slice(expert * self.inner, (expert + 1) * self.inner)
        mlp = self.experts.mlp
        return (F.silu(x @ mlp.w1[rows].T) * (x @ mlp.v1[rows].T)) @ mlp.w2[rows]


def dbrx_options(config) -> BlockOptions:
    return BlockOptions(clip_qkv=config.attn_config.clip_qkv)


def dbrx_layer(config, window: Optional[int], layer_id: int) -> SequentialLayer:
    attention = DecoderAttention(config, dbrx_options(config), window, layer_id=layer_id)
    return SequentialLayer(lambda: nn.LayerNorm(config.hidden_size, eps=_LAYER_NORM_EPS, bias=False), attention,
                           DbrxExperts(config))


class _Dbrx:
    options_for = staticmethod(dbrx_options)
    weight_prefix_aliases = {"transformer.blocks.": "model.layers.", "transformer.": "model."}
    weight_renames = {"wte.": "embed_tokens.", "norm_f.": "norm.", ".norm_attn_norm.norm_1.": ".input_layernorm.",
                      ".norm_attn_norm.norm_2.": ".post_attention_layernorm.", ".norm_attn_norm.attn.Wqkv.": ".self_attn.qkv_proj.",
                      ".norm_attn_norm.attn.out_proj.": ".self_attn.o_proj.", ".ffn.": ".mlp."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        act = (hf_config.ffn_config.ffn_act_fn or {}).get("name", "silu")
        if act != "silu":
            raise ValueError(f"DBRX with ffn_act_fn {act!r} is not supported (silu is)")

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, dbrx_layer, nn.LayerNorm(config.hidden_size, eps=_LAYER_NORM_EPS, bias=False))


class DbrxForCausalLM(_Dbrx, DecoderForCausalLM):
    pass


class DbrxForSequenceClassification(_Dbrx, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class DbrxModel(_Dbrx, DecoderForEmbedding):
    pass
