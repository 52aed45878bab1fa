"""Ergo (Amazon, Amazon-FMR/Ergo): ``ErgoForCausalLM``, ``ErgoModel``, and our ``ErgoForSequenceClassification``
(for ``classifier_from_token``).

- The residual stream is float32 (its embeddings, norms and residual gates too); each branch runs in the
  model's dtype. RMSNorms apply their weight in float32 (eps ``rms_norm_eps``, 1e-12).
- Sandwich norms, and gated residual adds: h = σ(w)·b + √(1 + σ(w))·exp(-softplus(w) / 2)·h, a ``w`` [H] per add.
- Attention: one fused ``wqkv`` ([q | k | v] heads), per-head q/k norms, then on sliding layers (``layer_types``)
  a rotary over (2i, 2i + 1) pairs (rows put evens-then-odds as they load, the q/k norms' weights too); full
  layers take none, their scores times ``global_attention_scale`` where set.
- MLPs: the first ``num_dense_blocks`` layers a squared-ReLU MLP of ``first_dense_intermediate_size``; the others
  experts by a float32 sigmoid router (the choice biased, renormalised, times ``moe_routed_scaling_factor``), each
  expert relu(x·U)²·D then RMS-normed by its own weight, beside a squared-ReLU shared expert, RMS-normed.

Checkpoints carry the original names (``tok_embeddings``, ``layers.N.attention.wqkv`` ...; the router and the shared
expert stored [in, out]), read under ours as they load. MIS is exact: everything but attention is per token.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import layer_windows
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    ForwardContext,
    pairs_first,
    sliding_layers_rotate,
    with_embed_overrides,
)
from multiscore.models.deepseek import DeepseekRouter
from multiscore.models.experts import mix_experts
from multiscore.models.nemotron_h import SquaredReluMLP


class Fp32RMSNorm(nn.Module):
    """An RMSNorm whose weight (float32) is applied in float32; the result in the input's dtype."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size, dtype=torch.float32))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), self.weight.shape, self.weight.float(), self.eps).to(x.dtype)


class ResidualGate(nn.Module):
    """``weight`` [H] (float32): σ(w)·branch + √(1 + σ(w))·exp(-softplus(w) / 2)·residual."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(size, dtype=torch.float32))

    def forward(self, branch: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        w = self.weight.float()
        gate = w.sigmoid()
        return gate * branch + torch.sqrt(1.0 + gate) * torch.exp(-0.5 * F.softplus(w)) * residual


class NormedExperts(nn.Module):
    """``mlp.experts``: ``up_proj`` [E, H, I], ``down_proj`` [E, I, H] (x·W), ``norm_weight`` [E, H] (float32)."""

    def __init__(self, config) -> None:
        super().__init__()
        E, H, I = config.num_experts, config.hidden_size, config.moe_intermediate_size
        self.up_proj = nn.Parameter(torch.empty(E, H, I))
        self.down_proj = nn.Parameter(torch.empty(E, I, H))
        self.norm_weight = nn.Parameter(torch.ones(E, H, dtype=torch.float32))
        self.eps = config.rms_norm_eps

    def run(self, expert: int, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x @ self.up_proj[expert]).square() @ self.down_proj[expert]  # [n, H]
        return (F.rms_norm(h.float(), (h.shape[-1],), eps=self.eps) * self.norm_weight[expert]).to(h.dtype)


class ErgoMoe(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.gate = DeepseekRouter(config, sigmoid=True, float32=True)
        self.gate.load_transposed = True  # stored [H, E]
        self.experts = NormedExperts(config)
        self.shared_expert = SquaredReluMLP(config, config.shared_intermediate_size)
        self.shared_expert.up_proj.load_transposed = self.shared_expert.down_proj.load_transposed = True  # [in, out]
        self.shared_expert_norm = Fp32RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        weights, experts = self.gate(x)
        return mix_experts(x, weights, experts, self.experts.run) + self.shared_expert_norm(self.shared_expert(x))


def ergo_attention(config, layer_id: int) -> DecoderAttention:
    attention = DecoderAttention(config, BlockOptions(qk_norm=True, rotary_layer=sliding_layers_rotate),
                                 layer_windows(config)[layer_id], layer_id=layer_id)
    D, Hq, Hkv = attention.head_dim, attention.num_heads, attention.num_kv_heads
    # The fused [q | k | v] rows, each head's q and k pairs first (the interleaved rotary as the half one);
    # the per-head norms' weights in the same order.
    attention.qkv_proj.load_row_order = torch.cat([pairs_first(Hq, D), Hq * D + pairs_first(Hkv, D),
                                                   torch.arange((Hq + Hkv) * D, (Hq + 2 * Hkv) * D, device="cpu")])
    attention.q_norm, attention.k_norm = Fp32RMSNorm(D, config.rms_norm_eps), Fp32RMSNorm(D, config.rms_norm_eps)
    attention.q_norm.load_row_order = attention.k_norm.load_row_order = pairs_first(1, D)
    scale = getattr(config, "global_attention_scale", None)
    if not attention.rotary and scale is not None:
        attention.scale = D**-0.5 * float(scale)  # q and k each times √scale
    return attention


class ErgoLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        self.self_attn = ergo_attention(config, layer_id)
        dense = config.mlp_layer_types[layer_id] == "dense"
        self.mlp = SquaredReluMLP(config, config.first_dense_intermediate_size) if dense else ErgoMoe(config)
        for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            setattr(self, name, Fp32RMSNorm(H, eps))
        self.attention_residual_gate, self.feedforward_residual_gate = ResidualGate(H), ResidualGate(H)

    def forward(self, residual: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        """residual [T, H] (float32) -> [T, H] (float32)."""
        dtype = self.self_attn.o_proj.weight.dtype  # the branches'
        attn = self.self_attn(self.input_layernorm(residual).to(dtype), ctx)
        residual = self.attention_residual_gate(self.post_attention_layernorm(attn.float()), residual)
        mlp = self.mlp(self.pre_feedforward_layernorm(residual).to(dtype), ctx.ops)
        return self.feedforward_residual_gate(self.post_feedforward_layernorm(mlp.float()), residual)


class ErgoBody(nn.Module):
    """``model.*``: ``embed_tokens`` (float32), ``layers.N``, ``norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, dtype=torch.float32)
        self.layers = nn.ModuleList(ErgoLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = Fp32RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, config.hidden_size // config.num_attention_heads)
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None), in the model's dtype."""
        dtype = self.layers[0].self_attn.o_proj.weight.dtype
        x = with_embed_overrides(self.embed_tokens(input_ids), embed_overrides)  # [T, H] float32
        cos, sin = self.rotary_emb.cos_sin(positions, dtype)
        ctx = ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops)
        for layer in self.layers:
            x = layer(x, ctx)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return self.norm(x).to(dtype)


class _Ergo:
    # The original names (what transformers saves too), in this order.
    weight_renames = {
        ".attention_norm.": ".input_layernorm.", ".post_attention_norm.": ".post_attention_layernorm.",
        ".ffn_norm.": ".pre_feedforward_layernorm.", ".post_ffn_norm.": ".post_feedforward_layernorm.",
        ".post_attention_residual.scale": ".attention_residual_gate.weight",
        ".post_ffn_residual.scale": ".feedforward_residual_gate.weight",
        ".attention.wqkv.": ".self_attn.qkv_proj.", ".attention.wo.": ".self_attn.o_proj.",
        ".attention.q_norm.": ".self_attn.q_norm.", ".attention.k_norm.": ".self_attn.k_norm.",
        ".feed_forward.up.": ".mlp.up_proj.", ".feed_forward.down.": ".mlp.down_proj.",
        ".feed_forward.gate_kernel": ".mlp.gate.weight", ".feed_forward.router_bias": ".mlp.gate.e_score_correction_bias",
        ".feed_forward.up_proj": ".mlp.experts.up_proj", ".feed_forward.down_proj": ".mlp.experts.down_proj",
        ".feed_forward.expert_output_norm.scale": ".mlp.experts.norm_weight",
        ".feed_forward.shared_up_proj": ".mlp.shared_expert.up_proj.weight",
        ".feed_forward.shared_down_proj": ".mlp.shared_expert.down_proj.weight",
        ".feed_forward.shared_expert_output_norm.scale": ".mlp.shared_expert_norm.weight",
    }
    weight_prefix_aliases = {"tok_embeddings.": "model.embed_tokens.", "norm.": "model.norm.", "output.": "lm_head.",
                             "layers.": "model.layers."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        params = hf_config.rope_parameters
        if "sliding_attention" in params:  # full layers take no rotary: the one rotary, the sliding layers'
            hf_config.rope_parameters = dict(params["sliding_attention"])
        # DeepseekRouter's names: one group, always renormalised, scaled; SquaredReluMLP's: no biases.
        hf_config.n_routed_experts, hf_config.n_group, hf_config.topk_group = hf_config.num_experts, 1, 1
        hf_config.routed_scaling_factor, hf_config.norm_topk_prob = float(hf_config.moe_routed_scaling_factor), True
        hf_config.mlp_bias = False

    def make_body(self, config) -> nn.Module:
        return ErgoBody(config)


class ErgoForCausalLM(_Ergo, DecoderForCausalLM):
    pass


class ErgoForSequenceClassification(_Ergo, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class ErgoModel(_Ergo, DecoderForEmbedding):
    pass
