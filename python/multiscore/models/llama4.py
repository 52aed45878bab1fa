"""Llama 4 (Scout 17B-16E, Maverick 17B-128E) on text: ``Llama4ForCausalLM`` (read at label tokens),
``Llama4TextModel`` and our ``Llama4ForSequenceClassification`` (what ``classifier_from_token`` converts the
causal LM to); the published ``Llama4ForConditionalGeneration`` checkpoints serve as their language model
(configs/checkpoint_layouts.py).

Each layer is a rotary layer or a NoPE one (``no_rope_layers``, 0 for NoPE: every fourth by default):
- rotary layers rotate q and k over (2i, 2i + 1) pairs, served as the half rotary with each head's rows
  put evens-then-odds as they load (q·k sums over the same pairs), then, with ``use_qk_norm``, divide
  each head of q and of k by its RMS (a norm with no weight; the same after the reordering);
- NoPE layers take no rotary and, with ``attn_temperature_tuning``, scale the query at position p by
  1 + attn_scale · log(1 + floor((p + 1) / floor_scale)).
MLPs: the ``moe_layers`` are mixtures (``feed_forward.router`` [E, H], ``experts.gate_up_proj`` [E, H, 2I],
``experts.down_proj`` [E, I, H]): each token's top-k experts by router logit, each fed the token *scaled by
sigmoid(its logit)* (the input, not the output), added to a shared expert's output; the others are dense
MLPs of ``intermediate_size_mlp``.

The rotary layers' attention is chunked (``attention_chunk_size``, 8192: a token sees only keys in its own
chunk of positions). Below that length the chunks hide nothing, so the context stops there
(``attention_geometry.context_length_of``).

MIS is exact: routing is per token, and each item token's position is its single-item one, so its rotary,
its temperature and its chunk are as when the item is scored alone.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.fused_ops import FusedOps
from multiscore.layers.norm import WeightlessRMSNorm
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderModel,
    GatedMLP,
    mlp_activation,
)


class Llama4Experts(nn.Module):
    """``experts.*``: ``gate_up_proj`` [E, H, 2I] ([gate | up], used as x · W) and ``down_proj`` [E, I, H],
    as the hub and transformers both store them (one orientation: a square expert, 2I = H, is not ambiguous)."""

    def __init__(self, num_experts: int, hidden: int, inner: int, act: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(num_experts, hidden, 2 * inner))
        self.down_proj = nn.Parameter(torch.empty(num_experts, inner, hidden))
        self.act = act

    def run(self, expert: int, x: torch.Tensor) -> torch.Tensor:
        """x [n, H] -> [n, H] through expert ``expert``."""
        gate, up = (x @ self.gate_up_proj[expert]).chunk(2, dim=-1)
        return (self.act(gate) * up) @ self.down_proj[expert]


class Llama4MoeBlock(nn.Module):
    """``feed_forward.router``, ``.experts``, ``.shared_expert`` (a gated MLP of ``intermediate_size``)."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.router = nn.Linear(config.hidden_size, config.num_local_experts, bias=False)  # plain: never packed
        act = F.silu if options.mlp_act == "silu" else (lambda t: F.gelu(t, approximate="tanh"))
        self.experts = Llama4Experts(config.num_local_experts, config.hidden_size, config.intermediate_size, act)
        self.shared_expert = GatedMLP(config, options, config.intermediate_size)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        logits, experts = self.router(x).topk(self.top_k, dim=-1)  # [T, k] each
        scales = torch.sigmoid(logits.float()).to(x.dtype)  # in float32 then cast, as transformers
        routed = torch.zeros_like(x)
        for expert in torch.unique(experts).tolist():  # in index order, as transformers sums them
            rows, slot = torch.where(experts == expert)  # [n] tokens routed to it, and at which of their k
            routed.index_add_(0, rows, self.experts.run(expert, x[rows] * scales[rows, slot, None]))
        return self.shared_expert(x, ops) + routed


class Llama4Attention(DecoderAttention):
    """DecoderAttention with Llama 4's per-layer choices: the weightless q/k norm after rotary on rotary
    layers (``use_qk_norm``), the query temperature on NoPE layers alone."""

    def __init__(self, config, options: BlockOptions, window: Optional[int] = None, local_rope: bool = False,
                 layer_id: int = 0) -> None:
        super().__init__(config, options, window, local_rope, layer_id)
        if getattr(config, "use_qk_norm", False) and self.rotary:
            self.qk_norm = self.qk_norm_after_rotary = True
            self.q_norm = self.k_norm = WeightlessRMSNorm(config.rms_norm_eps)
        self.scales_queries = not self.rotary


class Llama4Model(DecoderModel):
    """``model.*``: DecoderModel with Llama 4's query temperature (BlockOptions.query_temperature =
    (attn_scale, floor_scale))."""

    def _query_scale(self, positions: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """positions [T] -> [T, 1, 1] (in float32, then cast, as transformers), or None."""
        if self.query_temperature is None:
            return None
        attn_scale, floor_scale = self.query_temperature
        scale = torch.log1p(torch.floor((positions.float() + 1.0) / floor_scale)) * attn_scale + 1.0
        return scale.to(dtype)[:, None, None]


def _mlp_for_layer(config, options: BlockOptions, layer_id: int) -> nn.Module:
    if layer_id in config.moe_layers:
        return Llama4MoeBlock(config, options)
    return GatedMLP(config, options, config.intermediate_size_mlp)


def llama4_options(config) -> BlockOptions:
    temperature = (float(config.attn_scale), float(config.floor_scale)) if config.attn_temperature_tuning else None
    return BlockOptions(
        qkv_bias=bool(config.attention_bias), o_bias=bool(config.attention_bias), mlp_act=mlp_activation(config),
        pair_rotary=True, rotary_layer=lambda config, layer_id: bool(config.no_rope_layers[layer_id]),
        query_temperature=temperature, mlp_for_layer=_mlp_for_layer,
        attention_for_layer=lambda config, options, layer_id: Llama4Attention(config, options, layer_id=layer_id),
    )


class _Llama4:
    options_for = staticmethod(llama4_options)
    weight_renames = {".feed_forward.": ".mlp."}

    def make_body(self, config) -> nn.Module:
        return Llama4Model(config, self.options_for(config))


class Llama4ForCausalLM(_Llama4, DecoderForCausalLM):
    pass


class Llama4ForSequenceClassification(_Llama4, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Llama4TextModel(_Llama4, DecoderForEmbedding):
    pass
