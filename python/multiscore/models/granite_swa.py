"""Granite with sliding windows and attention sinks (IBM's granite-swash): ``GraniteSWAForCausalLM``,
``GraniteSWAModel``, and the same attention before Granite MoE's experts (with a shared MLP):
``GraniteMoeSWAForCausalLM``, ``GraniteMoeSWAModel``; and our sequence classifiers, for ``classifier_from_token``.

On top of Granite's multipliers (models/granite.py):
- layers whose ``layer_types`` entry is ``sliding_attention`` see the last ``sliding_window`` keys;
- every head has a learned sink (``self_attn.sinks``): an extra softmax logit that matches no value, as GPT-OSS's;
- each layer rotates with its own base, ``layer_rope_theta[i]`` (0: no rotary). Served with two rotary tables,
  so a config with more than two distinct bases is refused.

MIS is exact: windows and rotary by each item token's single-item position; sinks are per query.
"""

from __future__ import annotations

import copy
from dataclasses import replace

from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, DecoderForSequenceClassification
from multiscore.models.granite import _GraniteMoe, granite_moe_options, granite_options


def _rotary_bases(config) -> list[float]:
    """The distinct non-zero ``layer_rope_theta``, the first one served as the main rotary, the second as the local one."""
    bases = sorted({float(theta) for theta in config.layer_rope_theta if theta})
    if len(bases) > 2:
        raise ValueError(f"layer_rope_theta names {len(bases)} rotary bases ({bases}); at most two are supported")
    return bases


def _with_sinks(options_for):
    return lambda config: replace(options_for(config), attention_sinks=True,
                                  rotary_layer=lambda config, layer_id: bool(config.layer_rope_theta[layer_id]))


class _GraniteSwa:
    options_for = staticmethod(_with_sinks(granite_options))

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        _rotary_bases(hf_config)  # refused early, with the reason

    def make_body(self, config) -> nn.Module:
        body = super().make_body(config)
        bases = _rotary_bases(config)
        rotaries = [RotaryEmbedding(_with_rope_theta(config, theta), head_dim_of(config)) for theta in bases]
        if rotaries:
            body.rotary_emb = rotaries[0]
        body.local_rotary_emb = rotaries[1] if len(rotaries) > 1 else None
        for layer, theta in zip(body.layers, config.layer_rope_theta):
            layer.self_attn.local_rope = len(bases) > 1 and float(theta) == bases[1]
        return body


def _with_rope_theta(config, theta: float):
    """A copy of ``config`` whose rotary has base ``theta`` (the rest of ``rope_parameters`` as they are)."""
    copied = copy.deepcopy(config)
    copied.rope_parameters = {**config.rope_parameters, "rope_theta": theta}
    return copied


class GraniteSWAForCausalLM(_GraniteSwa, DecoderForCausalLM):
    pass


class GraniteSWAForSequenceClassification(_GraniteSwa, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class GraniteSWAModel(_GraniteSwa, DecoderForEmbedding):
    pass


class _GraniteMoeSwa(_GraniteSwa):
    options_for = staticmethod(_with_sinks(granite_moe_options))
    weight_renames = _GraniteMoe.weight_renames


class GraniteMoeSWAForCausalLM(_GraniteMoeSwa, DecoderForCausalLM):
    pass


class GraniteMoeSWAForSequenceClassification(_GraniteMoeSwa, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class GraniteMoeSWAModel(_GraniteMoeSwa, DecoderForEmbedding):
    pass
