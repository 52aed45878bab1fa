"""OpenAI's privacy filter (``OpenAIPrivacyFilterForTokenClassification``, openai/privacy-filter): a PII
tagger. A bidirectional encoder of GPT-OSS's blocks labels every token (BIOES tags of account numbers,
addresses, dates, e-mails, people, phone numbers, URLs and secrets: the config's ``id2label``).

Per layer, pre-norm (RMSNorm):
- attention: biased q/k/v/o, grouped kv heads, YaRN rotary over (2i, 2i + 1) pairs, a learned sink
  logit per head in each softmax's denominator (``sinks``), every token seeing the keys within
  ``sliding_window`` positions on either side (transformers' inclusive radius);
- experts: a biased router, the softmax of each token's top ``num_experts_per_tok`` logits, each
  expert a clamped SwiGLU ((up + 1) · gate·σ(α·gate), gate ≤ limit, |up| ≤ limit) with biases,
  computed in float32 as transformers does; their weighted sum (transformers' 1/k weights times k).

The pair rotary runs as the usual half rotary: each head's q and k rows are put evens-then-odds as
they load (``FusedLinear.shard_load_orders``), which changes no score, since q·k sums over the same
pairs. The ``score`` head labels each token.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.fused_ops import FusedOps
from multiscore.models.decoder import BlockOptions, DecoderForTokenClassification
from multiscore.models.experts import mix_experts


class ClampedSwigluExperts(nn.Module):
    """``experts.*``: ``gate_up_proj`` [E, H, 2I] ([gate | up] columns, used as x · W) with
    ``gate_up_proj_bias`` [E, 2I]; ``down_proj`` [E, I, H] with ``down_proj_bias`` [E, H]."""

    def __init__(self, config) -> None:
        super().__init__()
        experts, hidden, inner = config.num_local_experts, config.hidden_size, config.intermediate_size
        self.gate_up_proj = nn.Parameter(torch.empty(experts, hidden, 2 * inner))
        self.gate_up_proj_bias = nn.Parameter(torch.empty(experts, 2 * inner))
        self.down_proj = nn.Parameter(torch.empty(experts, inner, hidden))
        self.down_proj_bias = nn.Parameter(torch.empty(experts, hidden))
        self.alpha, self.limit = float(config.swiglu_alpha), float(config.swiglu_limit)

    def expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        """x [n, H] float32 -> [n, H] float32."""
        gate, up = torch.addmm(self.gate_up_proj_bias[e].float(), x, self.gate_up_proj[e].float()).chunk(2, dim=-1)
        gate, up = gate.clamp(max=self.limit), up.clamp(-self.limit, self.limit)
        return torch.addmm(self.down_proj_bias[e].float(), (up + 1) * (gate * torch.sigmoid(gate * self.alpha)),
                           self.down_proj[e].float())


class PrivacyFilterMoE(nn.Module):
    """``mlp.router`` (weight [E, H], bias [E]) and ``mlp.experts``, called as GatedMLP is."""

    def __init__(self, config) -> None:
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.router = nn.Linear(config.hidden_size, config.num_local_experts)
        self.experts = ClampedSwigluExperts(config)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        h = x.float()
        logits = F.linear(h, self.router.weight.float(), self.router.bias.float())  # [T, E]
        top, experts = torch.topk(logits, self.top_k, dim=-1)  # [T, k] each
        weights = torch.softmax(top, dim=-1)
        return mix_experts(h, weights, experts, self.experts.expert).to(x.dtype)


def privacy_filter_options(config) -> BlockOptions:
    return BlockOptions(qkv_bias=True, o_bias=True, pair_rotary=True, attention_sinks=True,
                        mlp_for_layer=lambda config, options, layer_id: PrivacyFilterMoE(config))


class OpenAIPrivacyFilterForTokenClassification(DecoderForTokenClassification):
    """``model.*`` and the ``score`` head (with its bias) on every token; bidirectional."""

    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER
    options_for = staticmethod(privacy_filter_options)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        for layer in self.model.layers:  # |i - j| <= sliding_window, as the backend's |i - j| < window
            layer.self_attn.window = config.sliding_window + 1
