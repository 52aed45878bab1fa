"""Granite (IBM; Granite Guardian risk classifiers read at their "Yes"/"No" tokens): Llama's block
with four multipliers from its config: token embeddings times ``embedding_multiplier``, attention
scores scaled by ``attention_multiplier`` (not head_dim ** -0.5), attention and MLP outputs times
``residual_multiplier`` before each residual add (folded into o_proj and down_proj as they load), and the LM head's logits divided by
``logits_scaling`` (decoder.DecoderForCausalLM; the classifier_from_token conversion divides too).

Granite MoE (``granitemoe``: granite-3.x-*-a*m): the same, every MLP a sparse mixture of experts
(Granite 4.0's ``block_sparse_moe``: top-k of the router's logits, softmax over those k, experts stored
3-D), its output times ``residual_multiplier`` too. Granite MoE with a shared MLP (``granitemoeshared``): the
same experts beside an always-on gated MLP of ``shared_intermediate_size`` (``shared_mlp.input_linear`` =
[gate | up], ``output_linear``)."""

from dataclasses import replace

import torch
from torch import nn

from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
)
from multiscore.models.granite_hybrid import GRANITE_MOE_NAMES, GraniteExperts
from multiscore.models.llama import llama_options


def granite_options(config):
    return replace(llama_options(config), embed_scale=float(config.embedding_multiplier),
                   attn_scale=float(config.attention_multiplier), residual_multiplier=float(config.residual_multiplier))


class GraniteForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(granite_options)


class GraniteForSequenceClassification(DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""

    options_for = staticmethod(granite_options)


class GraniteModel(DecoderForEmbedding):
    options_for = staticmethod(granite_options)


class GraniteMoeMLP(nn.Module):
    """``mlp`` (the checkpoint's ``block_sparse_moe``): Granite 4.0's experts, times ``residual_multiplier``."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.experts_block = GraniteExperts(config)
        self.residual_multiplier = float(config.residual_multiplier)
        shared = getattr(config, "shared_intermediate_size", 0) or 0  # GraniteMoeShared
        # its down projection scaled by residual_multiplier as it loads (GatedMLP's)
        self.shared_mlp = GatedMLP(config, options, shared) if shared else None

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        out = self.experts_block(x) * self.residual_multiplier
        return out if self.shared_mlp is None else out + self.shared_mlp(x, ops)


def granite_moe_options(config):
    return replace(granite_options(config), mlp_for_layer=lambda config, options, layer_id: GraniteMoeMLP(config, options))


class _GraniteMoe:
    options_for = staticmethod(granite_moe_options)
    # Granite 4.0's expert names, then the block under our layer's ``mlp.experts_block``; the shared MLP's.
    weight_renames = {**GRANITE_MOE_NAMES, "block_sparse_moe.": "mlp.experts_block.",
                      "shared_mlp.input_linear.": "mlp.shared_mlp.gate_up_proj.",
                      "shared_mlp.output_linear.": "mlp.shared_mlp.down_proj."}


class GraniteMoeForCausalLM(_GraniteMoe, DecoderForCausalLM):
    pass


class GraniteMoeForSequenceClassification(_GraniteMoe, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class GraniteMoeModel(_GraniteMoe, DecoderForEmbedding):
    pass


# Granite MoE with a shared MLP: the same classes (the config sets ``shared_intermediate_size``).
GraniteMoeSharedForCausalLM = GraniteMoeForCausalLM
GraniteMoeSharedForSequenceClassification = GraniteMoeForSequenceClassification
GraniteMoeSharedModel = GraniteMoeModel


def hyperclovax_options(config):
    """HyperCLOVA X: Granite's, and with ``use_post_norm`` each output normed (Gemma2's sandwich) before its
    ``residual_multiplier``, which then scales the post-norms' weights (make_body), not o_proj / down_proj."""
    if not config.use_post_norm:
        return granite_options(config)
    return replace(granite_options(config), sandwich_norms=True, residual_multiplier=1.0)


# Its names for the sandwich: ``post_attention_layernorm`` is the norm before the MLP, ``post_norm1`` / ``post_norm2``
# the norms after attention / the MLP (in this order: the first rename must not catch the second's result).
_PERI_LAYER_NORM_NAMES = {".post_attention_layernorm.": ".pre_feedforward_layernorm.",
                          ".post_norm1.": ".post_attention_layernorm.", ".post_norm2.": ".post_feedforward_layernorm."}


class _HyperClovaX:
    """HyperCLOVA X SEED (Naver): Granite's multipliers, peri-layer norms, logits multiplied by ``logits_scaling``."""

    options_for = staticmethod(hyperclovax_options)

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.logits_scaling = 1.0 / float(hf_config.logits_scaling)  # read as Granite's divisor

    @property
    def weight_renames(self) -> dict[str, str]:
        return _PERI_LAYER_NORM_NAMES if self.config.use_post_norm else {}

    def make_body(self, config) -> nn.Module:
        body = super().make_body(config)
        if config.use_post_norm:
            for layer in body.layers:
                for norm in (layer.post_attention_layernorm, layer.post_feedforward_layernorm):
                    norm.output_scale = float(config.residual_multiplier)
        return body


class HyperCLOVAXForCausalLM(_HyperClovaX, DecoderForCausalLM):
    pass


class HyperCLOVAXForSequenceClassification(_HyperClovaX, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class HyperCLOVAXModel(_HyperClovaX, DecoderForEmbedding):
    pass
