"""Mamba (state-spaces/mamba-*-hf), FalconMamba (tiiuae/falcon-mamba-7b) and Mamba2 (mamba-codestral,
state-spaces/mamba2-*): ``MambaForCausalLM`` / ``FalconMambaForCausalLM`` / ``Mamba2ForCausalLM`` (read at
label tokens; or a classifier by ``classifier_from_token``: our ``*ForSequenceClassification``) and
``MambaModel`` / ``FalconMambaModel`` / ``Mamba2Model``.

Every layer is ``residual + mixer(norm(residual))`` (no attention, no MLP): the Mamba (v1) mixer of
mamba1.py (FalconMamba's with unit RMSNorms on its dt, B and C), or Mamba2's (mamba2.py). The residual stream is kept in float32
with ``residual_in_fp32`` (what a bf16 run adds up), the final ``norm_f`` then back to the model's dtype.
Checkpoints name the body ``backbone.`` and its token embeddings ``embeddings``; the LM head is tied to
them unless ``tie_word_embeddings`` is false.

MIS is exact (each item starts from its query's state and convolution tail); the prefix cache and
embedding overrides are not served for it (they say why).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.norm import RMSNorm
from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, DecoderForSequenceClassification
from multiscore.models.gated_delta_net import (
    MambaHeads,
    RecurrentPlan,
)
from multiscore.models.mamba1 import Mamba1Mixer, Mamba1Shape
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape


class MambaLayer(nn.Module):
    @staticmethod
    def make_mixer(config) -> nn.Module:
        return Mamba1Mixer(Mamba1Shape.of_mamba(config))

    def __init__(self, config) -> None:
        super().__init__()
        self.norm = RMSNorm(config.hidden_size, config.layer_norm_epsilon)
        self.mixer = self.make_mixer(config)
        self.residual_in_fp32 = bool(getattr(config, "residual_in_fp32", False))

    def forward(self, hidden: torch.Tensor, plan: RecurrentPlan) -> torch.Tensor:
        """hidden [T, H] (float32 with residual_in_fp32) -> [T, H]."""
        normed = EAGER.rms_norm(hidden.to(self.norm.weight.dtype), self.norm.weight, self.norm.eps)
        out = self.mixer(normed, plan)
        return (hidden.float() if self.residual_in_fp32 else hidden) + out


class Mamba2Layer(MambaLayer):
    @staticmethod
    def make_mixer(config) -> nn.Module:
        return Mamba2Mixer(Mamba2Shape.of_mamba2(config))


class MambaBody(nn.Module):
    """``backbone.*`` of a Mamba checkpoint (our ``model.*``)."""

    layer_class = MambaLayer

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(self.layer_class(config) for _ in range(config.num_hidden_layers))
        self.norm_f = RMSNorm(config.hidden_size, config.layer_norm_epsilon)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], layouts) -> torch.Tensor:
        """input_ids [T]; layouts: the batch's sequences -> final hidden states [R, H] ([T, H] for None)."""
        hidden = self.embed_tokens(input_ids)  # [T, H]
        plan = RecurrentPlan.of(layouts, hidden.device)
        for layer in self.layers:
            hidden = layer(hidden, plan)
        if keep_rows is not None:
            hidden = hidden.index_select(0, keep_rows)
        dtype = self.embed_tokens.weight.dtype
        return EAGER.rms_norm(hidden, self.norm_f.weight.float(), self.norm_f.eps).to(dtype)


class _Mamba(MambaHeads):
    make_body = staticmethod(MambaBody)
    family = "Mamba"
    weight_renames = {"backbone.embeddings.": "model.embed_tokens.", "backbone.": "model."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """No layer attends, but the worker sizes its attention backend from the config's heads: one, nominally."""
        if getattr(hf_config, "num_attention_heads", None) is None:
            hf_config.num_attention_heads = 1


class MambaForCausalLM(_Mamba, DecoderForCausalLM):
    pass


class MambaForSequenceClassification(_Mamba, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class MambaModel(_Mamba, DecoderForEmbedding):
    # A bare MambaModel's tensors carry no ``backbone.`` prefix.
    weight_prefix_aliases = {"embeddings.": "model.embed_tokens.", "": "model."}


# FalconMamba: the same classes (its config's mixer_rms_eps turns the mixer's unit norms on).
FalconMambaForCausalLM, FalconMambaForSequenceClassification, FalconMambaModel = (
    MambaForCausalLM, MambaForSequenceClassification, MambaModel)


class Mamba2Body(MambaBody):
    layer_class = Mamba2Layer


class _Mamba2(_Mamba):
    make_body = staticmethod(Mamba2Body)
    family = "Mamba2"


class Mamba2ForCausalLM(_Mamba2, DecoderForCausalLM):
    pass


class Mamba2ForSequenceClassification(_Mamba2, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Mamba2Model(_Mamba2, DecoderForEmbedding):
    weight_prefix_aliases = MambaModel.weight_prefix_aliases
