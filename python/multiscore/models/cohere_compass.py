"""Cohere Compass, text (transformers' ``cohere_compass_text``; the language model of the vision-language
``CohereCompassForConditionalGeneration``, CohereLabs/North-*): ``CohereCompassForCausalLM`` (read at
label tokens), ``CohereCompassTextForSequenceClassification`` and ``CohereCompassTextModel``.

Command R7B's parallel block (cohere.py: one LayerNorm feeding attention and the SwiGLU MLP, sliding
layers by ``layer_types``), with two differences: the half rotary (not Cohere's interleaved pairs),
and each layer type's own rotary or none (``rope_parameters`` keyed by layer type; None for a type:
those layers take no positions). On text every M-RoPE axis holds the same position, so the
vision-language rotary is the plain one. Logits are multiplied by ``logit_scale``.

The classifier reads the last token (``pooling`` ``eos``, its default), so MIS applies; a classifier with
``bos`` or ``mean`` pooling is refused with the reason. The embedder pools as the config's ``pooling`` says
(``eos``: the last token, ``bos``: the first, ``mean``), unless sentence-transformers files say otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.cohere import ParallelBody, ParallelLayer, _Cohere, cohere_layer, cohere_options
from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, DecoderForSequenceClassification

_TYPES = ("full_attention", "sliding_attention")
_POOLING = {"eos": "last", "bos": "cls", "mean": "mean"}  # the config's pooling -> ours


def _rotates(config, layer_id: int) -> bool:
    return config.rope_parameters.get(config.layer_types[layer_id]) is not None


def compass_layer(config, window: Optional[int], layer_id: int) -> ParallelLayer:
    options = replace(cohere_options(config), pair_rotary=False, rotary_layer=_rotates)
    return cohere_layer(config, window, layer_id, options, local_rope=config.layer_types[layer_id] == "sliding_attention")


class CompassBody(ParallelBody):
    """ParallelBody with a rotary per layer type: the full layers' as ``ctx.cos``/``sin``, the sliding
    layers' as ``ctx.local_cos_sin`` (either absent when its type takes none)."""

    def __init__(self, config) -> None:
        super().__init__(config, compass_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, bias=False))

    @staticmethod
    def make_rotary(config) -> dict:
        return {kind: RotaryEmbedding(config, head_dim_of(config), kind)
                for kind in _TYPES if config.rope_parameters.get(kind) is not None}

    def rotary_tables(self, positions: torch.Tensor, dtype: torch.dtype) -> dict:
        tables = {kind: rotary.cos_sin(positions, dtype) for kind, rotary in self.rotary_emb.items()}
        cos, sin = tables.get("full_attention", (None, None))
        return {"cos": cos, "sin": sin, "local_cos_sin": tables.get("sliding_attention")}


class _Compass(_Cohere):
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        super().adapt_config(hf_config)
        unknown = set(hf_config.layer_types) - set(_TYPES)
        if unknown:
            raise ValueError(f"Cohere Compass layer types {sorted(unknown)} are not supported (only {list(_TYPES)})")

    def make_body(self, config) -> nn.Module:
        return CompassBody(config)


def pooling_of(hf_config) -> str:
    pooling = getattr(hf_config, "pooling", None) or "eos"
    if pooling not in _POOLING:
        raise ValueError(f"Cohere Compass pooling {pooling!r} is not one of {sorted(_POOLING)}")
    return pooling


class CohereCompassForCausalLM(_Compass, DecoderForCausalLM):
    pass


class CohereCompassTextForSequenceClassification(_Compass, DecoderForSequenceClassification):
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        super().adapt_config(hf_config)
        if pooling_of(hf_config) != "eos":
            raise ValueError(f"Cohere Compass with pooling {hf_config.pooling!r} is not supported: its classifier is "
                             "served at the last token (pooling 'eos')")


class CohereCompassTextModel(_Compass, DecoderForEmbedding):
    """The embedder, pooled as its sentence-transformers files say, else as the config's ``pooling``."""

    @classmethod
    def default_pooling(cls, hf_config) -> str:
        return _POOLING[pooling_of(hf_config)]
