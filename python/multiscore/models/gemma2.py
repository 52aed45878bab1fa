"""Gemma2: Gemma's block (scaled embeddings, 1 + w norms, GELU-tanh MLP) with attention and MLP
outputs normed before the residual add ("sandwich" norms), scores scaled by
``query_pre_attn_scalar ** -0.5`` and soft-capped (``attn_logit_softcapping``), and the LM head's
logits soft-capped (``final_logit_softcapping``); its ``sliding_attention`` layers see a window
of ``sliding_window`` positions (configs/attention_geometry.layer_windows).
Gemma2-based rerankers (bge-reranker-v2.5-gemma2) and reward models (``ForSequenceClassification``).

``CostWiseGemmaForCausalLM`` (BAAI/bge-reranker-v2.5-gemma2-lightweight, FlagEmbedding's
``LightweightLLMReranker``; remote code, model_type ``cost_wise_gemma``, read as Gemma2's config plus
``start_layer``, ``layer_sep`` and ``layer_wise``: configs/checkpoint_layouts.py): one-output heads
``lm_head.{i}.linear_head`` [1, H], one per layer that may be cut after (every ``layer_sep``-th from
``start_layer``). The score is a head applied to the final norm of the hidden state after ``c`` layers
at the last token, soft-capped as the LM's logits are. The cut ``c`` is FlagEmbedding's
``cutoff_layers`` (models/layerwise_cut.py, a start-up choice:
``--json-model-override-args '{"cutoff_layers": [28]}'``). FlagEmbedding's model reads the i-th cut it
is asked for through head i (not the cut layer's own head, as its MiniCPM reranker does), so one cut
(``compute_score(cutoff_layers=[28])``, its model card's call; a server reads one) goes through
``lm_head.0``: served so, to give FlagEmbedding's scores. Pairs are FlagEmbedding's prompt with the
lightweight reranker's default instruction (the built-in ``bge_reranker_lightweight`` score template).
FlagEmbedding's token compression (``compress_ratio`` 2, 4 or 8 before each of ``compress_layers``; its
default 1 computes none) is models/token_compression.py: each item then carries token types marking
its passage and prompt, single-item and MIS alike.
"""

from dataclasses import replace

import torch

from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)
from multiscore.models.gemma import gemma_options
from multiscore.models.layerwise_cut import cut_layer
from multiscore.models.token_compression import CompressingDecoderModel


def gemma2_options(config, bidirectional_ok: bool = False) -> BlockOptions:
    scalar = getattr(config, "query_pre_attn_scalar", None)
    return replace(gemma_options(config, bidirectional_ok), attn_scale=scalar**-0.5 if scalar else None,
                   attn_softcap=getattr(config, "attn_logit_softcapping", None), sandwich_norms=True)


class Gemma2ForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(gemma2_options)


class Gemma2ForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(gemma2_options)


class Gemma2ForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(gemma2_options)


class Gemma2Model(DecoderForEmbedding):
    options_for = staticmethod(gemma2_options)


def vaultgemma_options(config) -> BlockOptions:
    """VaultGemma: Gemma2's block without its two post-norms (its pre-MLP norm is ``pre_feedforward_layernorm``)."""
    return replace(gemma2_options(config), sandwich_norms=False)


class _VaultGemma:
    options_for = staticmethod(vaultgemma_options)
    weight_renames = {".pre_feedforward_layernorm.": ".post_attention_layernorm."}  # the norm before the MLP


class VaultGemmaForCausalLM(_VaultGemma, DecoderForCausalLM):
    pass


class VaultGemmaForSequenceClassification(_VaultGemma, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class VaultGemmaModel(_VaultGemma, DecoderForEmbedding):
    pass


class CostWiseGemmaForCausalLM(DecoderForSequenceClassification):
    """bge-reranker-v2.5-gemma2-lightweight: one label, read after ``cutoff_layers`` layers (module doc)."""

    options_for = staticmethod(gemma2_options)
    score_template = "bge_reranker_lightweight"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if not getattr(hf_config, "layer_wise", False):
            raise ValueError("CostWiseGemmaForCausalLM without layer_wise is not served: its head reads the whole "
                             "vocabulary; the lightweight reranker's checkpoints are layer_wise (one relevance logit per layer)")
        depth = getattr(hf_config, "cost_wise_depth", hf_config.num_hidden_layers)  # read once per process: idempotent
        start, sep = int(hf_config.start_layer), int(hf_config.layer_sep)
        cut = cut_layer(hf_config, depth, start, sep)
        hf_config.token_compression = _token_compression(hf_config, cut)
        hf_config.cost_wise_depth, hf_config.num_hidden_layers = depth, cut  # later layers are never built
        hf_config.cutoff_layer, hf_config.num_labels = cut, 1

    def __init__(self, config, pooling=None) -> None:
        super().__init__(config, pooling)
        # FlagEmbedding's one-cut read goes through the first head (module doc); the others stay unread.
        self.weight_renames = {"lm_head.0.linear_head.": "score."}
        cap = getattr(config, "final_logit_softcapping", None)
        if cap:  # FlagEmbedding soft-caps each head's logit as Gemma2's LM head does: cap · tanh(logit / cap)
            self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(lambda hidden: torch.tanh(self.score(hidden) / cap) * cap,
                                                                    config))

    def make_body(self, config):
        if not config.token_compression:
            return super().make_body(config)
        ratio, layers = config.token_compression
        return CompressingDecoderModel(config, self.options_for(config), ratio, layers)

    def hidden_states(self, batch, attention, rows):
        if not self.config.token_compression:
            return super().hidden_states(batch, attention, rows)
        return self.model(batch.input_ids, batch.positions, attention, rows, batch.embed_overrides,
                          batch.token_type_ids, batch.layouts)


def _token_compression(hf_config, cut: int):
    """FlagEmbedding's ``compress_ratio`` (1, 2, 4 or 8; default 1: none) and ``compress_layers`` (default
    [8]; layer 0 and layers from the cut on never compress, as in FlagEmbedding) -> (ratio, layers) or None."""
    ratio = getattr(hf_config, "compress_ratio", None) or 1
    if ratio not in (1, 2, 4, 8) or isinstance(ratio, bool):
        raise ValueError(f"compress_ratio must be 1, 2, 4 or 8 (FlagEmbedding's), got {ratio!r}")
    layers = getattr(hf_config, "compress_layers", None)
    layers = [8] if layers is None else layers if isinstance(layers, (list, tuple)) else [layers]
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in layers):
        raise ValueError(f"compress_layers must be layer numbers, got {layers!r}")
    layers = tuple(sorted({x for x in layers if 0 < x < cut}))
    return (ratio, layers) if ratio > 1 and layers else None
