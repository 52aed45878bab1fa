"""NVIDIA's Nemotron-H (transformers' ``nemotron_h``: Nemotron-H 4B-56B, Nemotron Nano 2, Nemotron 3):
``NemotronHForCausalLM`` (read at label tokens; or made our ``NemotronHForSequenceClassification`` by
``classifier_from_token``) and ``NemotronHModel``.

Each layer is one block (``layers_block_type``): RMSNorm, then a Mamba2 mixer (mamba2.py;
``linear_attention``), attention without rotary (``full_attention``) or a plain MLP with squared ReLU
(``mlp``: ``down(relu(up(x))²)``) or, in Nemotron 3, a mixture of such MLPs (``moe``: NemotronHMoE),
then the residual add. ``model.embeddings``, ``model.norm_f``; published checkpoints name the body
``backbone.``. MIS is exact (as Granite 4.0's Mamba layers); the prefix cache and embedding overrides
are not served for it (they say why).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear
from multiscore.layers.norm import RMSNorm
from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, DecoderForSequenceClassification
from multiscore.models.deepseek import DeepseekRouter
from multiscore.models.experts import mix_experts
from multiscore.models.gated_delta_net import (
    MambaHeads,
    RecurrentPlan,
)
from multiscore.models.granite_hybrid import GraniteHybridAttention
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape

BLOCK_TYPES = ("linear_attention", "full_attention", "mlp", "moe")


def _mamba_shape(config) -> Mamba2Shape:
    return Mamba2Shape(config.hidden_size, config.mamba_num_heads, config.mamba_head_dim, config.n_groups,
                       config.ssm_state_size, config.conv_kernel, config.layer_norm_epsilon, bool(config.use_bias),
                       bool(config.use_conv_bias), tuple(config.time_step_limit or (0.0, float("inf"))))


class SquaredReluMLP(nn.Module):
    def __init__(self, config, inner: Optional[int] = None, width: Optional[int] = None) -> None:
        """``inner``: its intermediate size (the config's by default); ``width``: its input and output (hidden)."""
        super().__init__()
        inner, width = inner or config.intermediate_size, width or config.hidden_size
        self.up_proj = Linear(width, inner, bias=config.mlp_bias)
        self.down_proj = Linear(inner, width, bias=config.mlp_bias)

    def forward(self, x: torch.Tensor, ops=None) -> torch.Tensor:
        """x [T, width] -> [T, width] (``ops``: the decoder MLPs' protocol, unused)."""
        return self.down_proj(F.relu(self.up_proj(x)).square())


class NemotronHMoE(nn.Module):
    """``mixer.gate`` (router [E, H] and ``e_score_correction_bias``), ``mixer.experts.{e}`` (squared-ReLU
    MLPs, in the latent space ``fc1_latent_proj`` / ``fc2_latent_proj`` lead to where ``moe_latent_size``
    is set) and ``mixer.shared_experts`` on every token.

    Routing (DeepSeek-V3's): sigmoid scores; the choice adds the correction bias, keeps the ``topk_group``
    groups of ``n_group`` whose two best choices sum highest, and takes the top k there; the weights
    are the chosen experts' plain scores, renormalised (``norm_topk_prob``), times ``routed_scaling_factor``."""

    def __init__(self, config) -> None:
        super().__init__()
        E, H = config.n_routed_experts, config.hidden_size
        # DeepSeek-V3's router, in float32 as transformers keeps it (``gate.weight``, ``gate.e_score_correction_bias``)
        self.gate = DeepseekRouter(config, sigmoid=True, float32=True)
        latent = config.moe_latent_size
        self.experts = nn.ModuleList(SquaredReluMLP(config, config.moe_intermediate_size, latent) for _ in range(E))
        self.fc1_latent_proj = Linear(H, latent, bias=config.mlp_bias) if latent else None
        self.fc2_latent_proj = Linear(latent, H, bias=config.mlp_bias) if latent else None
        self.shared_experts = SquaredReluMLP(config, config.moe_shared_expert_intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [T, H] -> [T, H]: the routed experts, weighted and summed in expert order, plus the shared ones."""
        weights, experts = self.gate(x)  # [T, k] each, the weights in x's dtype
        latent = x if self.fc1_latent_proj is None else self.fc1_latent_proj(x)
        out = mix_experts(latent, weights, experts, lambda expert, rows: self.experts[expert](rows))
        if self.fc2_latent_proj is not None:
            out = self.fc2_latent_proj(out)
        return out + self.shared_experts(x)


class NemotronHBlock(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.block_type = config.layers_block_type[layer_id]
        self.norm = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        if self.block_type == "linear_attention":
            self.mixer = Mamba2Mixer(_mamba_shape(config))
        elif self.block_type == "full_attention":
            self.mixer = GraniteHybridAttention(config, layer_id, scale=None, residual_multiplier=1.0)
        elif self.block_type == "moe":
            self.mixer = NemotronHMoE(config)
        else:
            self.mixer = SquaredReluMLP(config)

    def forward(self, hidden: torch.Tensor, attention: BatchAttention, plan: RecurrentPlan, ops) -> torch.Tensor:
        normed = ops.rms_norm(hidden, self.norm.weight, self.norm.eps)
        if self.block_type == "linear_attention":
            return hidden + self.mixer(normed, plan)
        if self.block_type == "full_attention":
            return hidden + self.mixer(normed, None, attention)
        return hidden + self.mixer(normed)


class NemotronHBody(nn.Module):
    """``model.*`` (``backbone.*`` as published)."""

    def __init__(self, config) -> None:
        super().__init__()
        unknown = sorted(set(config.layers_block_type) - set(BLOCK_TYPES))
        if unknown:
            raise ValueError(f"Nemotron-H blocks {unknown} are not supported (only {', '.join(BLOCK_TYPES)})")
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(NemotronHBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm_f = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.ops = EAGER

    @property
    def embed_tokens(self) -> nn.Embedding:  # what the causal LM ties its head to (tie_word_embeddings)
        return self.embeddings

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids, positions [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embeddings(input_ids)  # [T, H]
        plan = RecurrentPlan.of(layouts, hidden.device)
        for layer in self.layers:
            hidden = layer(hidden, attention, plan, self.ops)
        if keep_rows is not None:
            hidden = hidden.index_select(0, keep_rows)
        return self.ops.rms_norm(hidden, self.norm_f.weight, self.norm_f.eps)


class _NemotronH(MambaHeads):
    make_body = staticmethod(NemotronHBody)
    family = "Nemotron-H"
    weight_prefix_aliases = {"backbone.": "model.", "": "model."}


class NemotronHForCausalLM(_NemotronH, DecoderForCausalLM):
    pass


class NemotronHForSequenceClassification(_NemotronH, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class NemotronHModel(_NemotronH, DecoderForEmbedding):
    pass
