"""NVIDIA's Nemotron-H (transformers' ``nemotron_h``: Nemotron-H 4B-56B, Nemotron Nano 2), dense:
``NemotronHForCausalLM`` (read at label tokens; or made our ``NemotronHForSequenceClassification`` by
``classifier_from_token``) and ``NemotronHModel``.

Each layer is one block (``layers_block_type``): RMSNorm, then a Mamba2 mixer (mamba2.py;
``linear_attention``), attention without rotary (``full_attention``) or a plain MLP with squared ReLU
(``mlp``: ``down(relu(up(x))²)``), then the residual add. ``model.embeddings``, ``model.norm_f``;
published checkpoints name the body ``backbone.``. The MoE blocks of Nemotron 3 (``moe``: grouped,
bias-corrected routing) are refused with the reason. MIS is exact (as Granite 4.0's Mamba layers);
the prefix cache and embedding overrides are not served for it (they say why).
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
from multiscore.models.gated_delta_net import RecurrentPlan
from multiscore.models.granite_hybrid import GraniteHybridAttention
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape

BLOCK_TYPES = ("linear_attention", "full_attention", "mlp")


def _mamba_shape(config) -> Mamba2Shape:
    return Mamba2Shape(config.hidden_size, config.mamba_num_heads, config.mamba_head_dim, config.n_groups,
                       config.ssm_state_size, config.conv_kernel, config.layer_norm_epsilon, bool(config.use_bias),
                       bool(config.use_conv_bias), tuple(config.time_step_limit or (0.0, float("inf"))))


class SquaredReluMLP(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.up_proj = Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.down_proj = Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.relu(self.up_proj(x)).square())


class NemotronHBlock(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        self.block_type = config.layers_block_type[layer_id]
        self.norm = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        if self.block_type == "linear_attention":
            self.mixer = Mamba2Mixer(_mamba_shape(config))
        elif self.block_type == "full_attention":
            self.mixer = GraniteHybridAttention(config, layer_id, scale=None, residual_multiplier=1.0)
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
            raise ValueError(f"Nemotron-H blocks {unknown} are not supported (only {', '.join(BLOCK_TYPES)}: "
                             "the MoE blocks' grouped, bias-corrected routing is not implemented)")
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


class _NemotronH:
    make_body = staticmethod(NemotronHBody)
    weight_prefix_aliases = {"backbone.": "model.", "": "model."}
    prefix_cache_problem = "its Mamba layers keep a recurrent state, not per-token keys"
    embed_overrides_problem = "not implemented for its Mamba layers (refused before any batch runs)"

    def hidden_states(self, batch, attention, rows):
        if batch.embed_overrides is not None:
            raise ValueError("embedding overrides are not supported for Nemotron-H")
        return self.model(batch.input_ids, batch.positions, attention, rows, batch.layouts)


class NemotronHForCausalLM(_NemotronH, DecoderForCausalLM):
    pass


class NemotronHForSequenceClassification(_NemotronH, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class NemotronHModel(_NemotronH, DecoderForEmbedding):
    pass
