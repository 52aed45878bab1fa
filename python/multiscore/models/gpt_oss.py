"""GPT-OSS (openai/gpt-oss-20b, -120b, gpt-oss-safeguard): a causal LM of pre-norm blocks
(``GptOssForCausalLM``; transformers' ``...ForSequenceClassification``, ``...ForTokenClassification``
and the bare ``GptOssModel`` too).

Per layer, RMSNorm before each part:
- attention: biased q/k/v/o, grouped kv heads, the half rotary with YaRN (``rope_parameters``), a
  learned sink logit per head in each softmax's denominator (``self_attn.sinks``; the torch backend
  applies it to plain runs, cached prefixes and both parts of MIS alike); ``layer_types`` alternate a
  ``sliding_window`` of 128 keys with full attention;
- experts (``mlp.router``, ``mlp.experts``): a biased router, the softmax of each token's top
  ``num_experts_per_tok`` logits, each expert a clamped SwiGLU ((up + 1) · gate·σ(α·gate), gate ≤ limit,
  |up| ≤ limit) with biases; their weighted sum (experts.py).

The hub's checkpoints store the experts in MXFP4 (``*_blocks`` / ``*_scales``): they are dequantized
as they load (model_executor/mxfp4.py). OpenAI's privacy filter is a bidirectional encoder of these
blocks (openai_privacy_filter.py) with the same experts, its gate and up halves side by side.
"""

from __future__ import annotations

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
)
from multiscore.models.experts import mix_experts


class ClampedSwigluExperts(nn.Module):
    """``experts.*``: ``gate_up_proj`` [E, H, 2I] (used as x · W) with ``gate_up_proj_bias`` [E, 2I];
    ``down_proj`` [E, I, H] with ``down_proj_bias`` [E, H].

    ``interleaved``: gate and up alternate in the 2I columns (GPT-OSS: gate = [::2], up = [1::2]);
    otherwise [gate | up] (the privacy filter). ``float32``: computed in float32 whatever the model's
    dtype (as transformers computes the privacy filter's; GPT-OSS's run in the model's dtype)."""

    def __init__(self, config, interleaved: bool, float32: bool) -> None:
        super().__init__()
        experts, hidden, inner = config.num_local_experts, config.hidden_size, config.intermediate_size
        self.gate_up_proj = nn.Parameter(torch.empty(experts, hidden, 2 * inner))
        self.gate_up_proj_bias = nn.Parameter(torch.empty(experts, 2 * inner))
        self.down_proj = nn.Parameter(torch.empty(experts, inner, hidden))
        self.down_proj_bias = nn.Parameter(torch.empty(experts, hidden))
        self.alpha, self.limit = float(config.swiglu_alpha), float(config.swiglu_limit)
        self.interleaved, self.float32 = interleaved, float32

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """x [n, H] (float32 when ``float32``) -> [n, H]."""
        cast = (lambda t: t.float()) if self.float32 else (lambda t: t)
        gate_up = torch.addmm(cast(self.gate_up_proj_bias[e]), x, cast(self.gate_up_proj[e]))  # [n, 2I]
        gate, up = (gate_up[:, ::2], gate_up[:, 1::2]) if self.interleaved else gate_up.chunk(2, dim=-1)
        gate, up = gate.clamp(max=self.limit), up.clamp(-self.limit, self.limit)
        return torch.addmm(cast(self.down_proj_bias[e]), (up + 1) * (gate * torch.sigmoid(gate * self.alpha)),
                           cast(self.down_proj[e]))


class GptOssMoE(nn.Module):
    """``mlp.router`` (weight [E, H], bias [E]) and ``mlp.experts``, called as GatedMLP is. The router
    runs in float32 (transformers: the model's dtype; the same in float32 checkpoints)."""

    def __init__(self, config, interleaved: bool = True, float32: bool = False) -> None:
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.router = nn.Linear(config.hidden_size, config.num_local_experts)
        self.experts = ClampedSwigluExperts(config, interleaved, float32)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        logits = F.linear(x.float(), self.router.weight.float(), self.router.bias.float())  # [T, E]
        top, experts = torch.topk(logits, self.top_k, dim=-1)  # [T, k] each
        weights = torch.softmax(top, dim=-1)
        h = x.float() if self.experts.float32 else x
        return mix_experts(h, weights, experts, self.experts.expert).to(x.dtype)


def gpt_oss_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", True))
    return BlockOptions(qkv_bias=bias, o_bias=bias, attention_sinks=True,
                        mlp_for_layer=lambda config, options, layer_id: GptOssMoE(config))


class GptOssForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(gpt_oss_options)


class GptOssForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(gpt_oss_options)


class GptOssForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(gpt_oss_options)


class GptOssModel(DecoderForEmbedding):
    options_for = staticmethod(gpt_oss_options)
