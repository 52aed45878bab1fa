"""Kimi Linear (moonshotai/Kimi-Linear-48B-A3B): ``KimiLinearForCausalLM``, ``KimiLinearModel`` and our
``KimiLinearForSequenceClassification`` (for ``classifier_from_token``).

Llama's pre-norm block around one of two mixers (``layer_types``):
- Kimi delta attention (KDA, ``linear_attention``): the gated delta rule (models/gated_delta_net.py, MIS by
  recurrent state) with a decay per key dimension: g = −exp(A_log) · softplus(f_b(f_a(x)) + dt_bias), β = σ(b(x));
  its output RMS-normed per head and gated by σ(g_b(g_a(x))). Its q / k / v projections and their convolutions
  are stored apart (``q_conv1d`` ...): read as one of each.
- multi-head latent attention without positions (``full_attention``: models/latent_attention.py, its rope
  part not rotated).
Then DeepSeek-V3's experts (a sigmoid router with a correction bias, groups, shared experts) where
``mlp_layer_types`` says ``sparse``, a gated MLP elsewhere; the hub's names (``block_sparse_moe``, experts'
``w1`` / ``w3`` / ``w2``) are read as ours. The prefix cache is not served (the delta layers keep a state).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.models.decoder import (
    DECODER_PACKED_MODULES,
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
)
from multiscore.models.deepseek import deepseek_moe_mlp
from multiscore.models.gated_delta_net import (
    PIECEWISE_CONV_PIECES,
    DeltaRuleLayer,
    PiecewiseConv1d,
    RecurrentHeads,
    RecurrentPlan,
    roots_then_items,
    run_hybrid_layers,
)
from multiscore.models.latent_attention import LatentAttention

_GATED_NORM_EPS = 1e-6  # the output norm's: transformers builds it with its default eps


class KimiDeltaAttention(DeltaRuleLayer):
    """``self_attn.*`` of a KDA layer (checkpoint names)."""

    def __init__(self, config) -> None:
        super().__init__()
        H, D, hidden = config.linear_num_heads, config.linear_head_dim, config.hidden_size
        self.k_heads = self.v_heads = H
        self.k_dim = self.v_dim = D
        self.key_size = self.value_size = H * D
        self.kernel = config.linear_conv_kernel_dim
        self.qkv_proj = FusedLinear(hidden, {"q": H * D, "k": H * D, "v": H * D}, bias=False)
        self.conv1d = PiecewiseConv1d(3 * H * D, self.kernel)
        self.f_a_proj, self.f_b_proj = Linear(hidden, D, bias=False), Linear(D, H * D, bias=False)
        self.dt_bias = nn.Parameter(torch.zeros(H * D, dtype=torch.float32))
        self.A_log = nn.Parameter(torch.zeros(1, 1, H, 1))
        self.b_proj = Linear(hidden, H, bias=False)
        self.g_a_proj, self.g_b_proj = Linear(hidden, D, bias=False), Linear(D, H * D, bias=False)
        self.o_norm = RMSNorm(D, _GATED_NORM_EPS)
        self.o_proj = Linear(H * D, hidden, bias=False)
        # Its per-dimension ratios are [chunk, chunk, D] per head: shorter chunks than a per-head decay's.
        self.chunk_size = 16

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        T, heads, D = hidden.shape[0], self.v_heads, self.v_dim
        forget = self.f_b_proj(self.f_a_proj(hidden)).float() + self.dt_bias.float()  # [T, heads · D]
        decay = -self.A_log.float().view(heads, 1).exp() * F.softplus(forget.view(T, heads, D))  # [T, heads, D]
        beta = torch.sigmoid(self.b_proj(hidden).float())  # [T, heads]
        out = torch.zeros(T, heads, D, dtype=torch.float32, device=hidden.device)
        # β = 0 past a segment's end: those rows write nothing into the state.
        roots_then_items(self.qkv_proj(hidden), plan, self.kernel, lambda x, history, groups, state: self._run(
            x, history, beta, decay, groups, out, state))
        gate = self.g_b_proj(self.g_a_proj(hidden)).float().view(T, heads, D)
        normed = F.rms_norm(out, (D,), self.o_norm.weight.float(), self.o_norm.eps) * torch.sigmoid(gate)
        return self.o_proj(normed.to(hidden.dtype).reshape(T, heads * D))


class KimiLinearLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.linear = config.layer_types[layer_id] == "linear_attention"
        self.self_attn = (KimiDeltaAttention(config) if self.linear
                          else LatentAttention(config, layer_id, rotary=False))
        self.mlp = deepseek_moe_mlp(sigmoid=True)(config, BlockOptions(), layer_id)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] -> [T, H]."""
        norm = self.input_layernorm
        normed = ctx.ops.rms_norm(hidden, norm.weight, norm.eps)
        mixed = self.self_attn(normed, plan) if self.linear else self.self_attn(normed, ctx)
        norm = self.post_attention_layernorm
        hidden, normed = ctx.ops.add_rms_norm(mixed, hidden, norm.weight, norm.eps)
        return hidden + self.mlp(normed, ctx.ops)


class KimiLinearBody(nn.Module):
    """``model.*``: embeddings, layers, the final norm (no positions: neither mixer reads them)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(KimiLinearLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.ops = EAGER

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        ctx = ForwardContext(cos=None, sin=None, attention=attention, ops=self.ops)
        return run_hybrid_layers(self.layers, hidden, ctx, layouts, keep_rows, self.norm)


class _KimiLinear(RecurrentHeads):
    make_body = staticmethod(KimiLinearBody)
    family = "Kimi Linear"
    prefix_cache_problem = "its delta-attention layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its delta-attention layers (refused before any batch runs)"
    packed_modules_mapping = {**DECODER_PACKED_MODULES, **PIECEWISE_CONV_PIECES}
    # The hub's names (what transformers saves too) -> ours; transformers' module names for the forget gate.
    weight_renames = {".block_sparse_moe.": ".mlp.", ".w1.": ".gate_proj.", ".w3.": ".up_proj.", ".w2.": ".down_proj.",
                      ".self_attn.forget_gate.": ".self_attn."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "hidden_act", "silu") != "silu":
            raise ValueError(f"Kimi Linear with hidden_act {hf_config.hidden_act!r} is not supported (silu is)")
        hf_config.n_routed_experts = hf_config.num_local_experts  # DeepSeek-V3's name, which its router reads
        # Every MLA head's keys and values are its own (expanded from the shared latent).
        hf_config.num_key_value_heads = hf_config.num_attention_heads


class KimiLinearForCausalLM(_KimiLinear, DecoderForCausalLM):
    pass


class KimiLinearForSequenceClassification(_KimiLinear, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class KimiLinearModel(_KimiLinear, DecoderForEmbedding):
    pass
