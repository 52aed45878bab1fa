"""MiniCPM (openbmb; remote code, model_type ``minicpm``, read as Llama's config plus its keys:
configs/checkpoint_layouts.py) and BAAI's layerwise reranker built on it.

MiniCPM is Llama's block with three multipliers: token embeddings times ``scale_emb``, each attention
and MLP output times ``scale_depth / sqrt(num_hidden_layers)`` before its residual add, and the LM
head reading ``hidden / (hidden_size / dim_model_base)``. Those are Granite's embedding and residual
multipliers and its ``logits_scaling`` (decoder.py's BlockOptions, DecoderForCausalLM).

``LayerWiseMiniCPMForCausalLM`` (BAAI/bge-reranker-v2-minicpm-layerwise, FlagEmbedding's
``LayerWiseFlagLLMReranker``): a relevance score may be read after any layer from ``start_layer`` to
the last: the final norm applied to the hidden state after ``c`` layers, through that layer's own
one-output head (``lm_head.{c - start_layer}.linear_head`` [1, H]; ``lm_head.linear_head`` when
``head_multi`` is false). The cut ``c`` is FlagEmbedding's ``cutoff_layers`` (one layer; default the
last), a start-up choice (``--json-model-override-args '{"cutoff_layers": [28]}'``): the server builds
and runs the first ``c`` layers only, so an early cut is faster too. Pairs are FlagEmbedding's prompt
(the built-in ``bge_reranker`` score template); the score is the head's raw logit, or its sigmoid
(FlagEmbedding's ``normalize=True``) where the API applies the default activation.
"""

from __future__ import annotations

import math
from dataclasses import replace

from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, DecoderForSequenceClassification
from multiscore.models.layerwise_cut import cut_layer
from multiscore.models.llama import llama_options


def minicpm_options(config):
    # The residual scale divides by the model's depth, not by the layers a layerwise cut keeps.
    depth = getattr(config, "minicpm_depth", config.num_hidden_layers)
    return replace(llama_options(config), embed_scale=float(config.scale_emb),
                   residual_multiplier=float(config.scale_depth) / math.sqrt(depth))


class _MiniCPM:
    options_for = staticmethod(minicpm_options)

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "sparse_config", None):
            raise ValueError("this MiniCPM checkpoint has a sparse_config (MiniCPM4's sparse attention over long "
                             "inputs), which is not computed here")
        # The LM head reads hidden / (hidden_size / dim_model_base): Granite's logits_scaling.
        hf_config.logits_scaling = hf_config.hidden_size / float(hf_config.dim_model_base)


class MiniCPMForCausalLM(_MiniCPM, DecoderForCausalLM):
    pass


class MiniCPMForSequenceClassification(_MiniCPM, DecoderForSequenceClassification):
    """Ours (the remote code has none): what ``classifier_from_token`` converts the causal LM to."""


class MiniCPMModel(_MiniCPM, DecoderForEmbedding):
    pass


class LayerWiseMiniCPMForCausalLM(_MiniCPM, DecoderForSequenceClassification):
    """bge-reranker-v2-minicpm-layerwise: one label, read after ``cutoff_layers`` layers (module doc)."""

    score_template = "bge_reranker"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        head_type = getattr(hf_config, "head_type", "simple")
        if head_type != "simple":
            raise ValueError(f"LayerWiseMiniCPMForCausalLM with head_type {head_type!r} is not supported: its heads "
                             "read the whole vocabulary; only 'simple' (one relevance logit per layer) is served")
        depth = getattr(hf_config, "minicpm_depth", hf_config.num_hidden_layers)  # read once per process: idempotent
        cut = cut_layer(hf_config, depth, int(getattr(hf_config, "start_layer", 8)))
        super().adapt_config(hf_config)
        hf_config.minicpm_depth, hf_config.num_hidden_layers = depth, cut  # later layers are never built
        hf_config.cutoff_layer = cut
        hf_config.num_labels = 1

    def __init__(self, config, pooling=None) -> None:
        super().__init__(config, pooling)
        head = f"lm_head.{config.cutoff_layer - config.start_layer}." if getattr(config, "head_multi", True) else "lm_head."
        # Only the cut's head is ours; the other layers' heads (and layers) are left unread.
        self.weight_renames = {head + "linear_head.": "score."}
