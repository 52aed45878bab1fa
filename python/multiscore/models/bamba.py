"""Bamba (IBM's ibm-ai-platform/Bamba-9B and fine-tunes): ``BambaForCausalLM`` (read at label tokens; or
a classifier by ``classifier_from_token``: our ``BambaForSequenceClassification``) and ``BambaModel``.

Jamba's layer layout (jamba.py: ``input_layernorm``, a Mamba or attention layer by ``layer_types``,
``pre_ff_layernorm``, a SwiGLU ``feed_forward``; ``final_layernorm``) with Granite 4.0's Mamba2 mixer
(mamba2.py, the SSD scan in chunks) and Llama's attention, rotating the first ``partial_rotary_factor``
of each head.

MIS is exact (Mamba layers start each item from its query's state and convolution tail); the prefix
cache and embedding overrides are not served for it (they say why).
"""

from __future__ import annotations

from torch import nn

from multiscore.models.decoder import DecoderForCausalLM, DecoderForEmbedding, DecoderForSequenceClassification
from multiscore.models.jamba import JambaBody, JambaHeads, JambaLayer
from multiscore.models.mamba2 import Mamba2Mixer, Mamba2Shape


class BambaLayer(JambaLayer):
    rotary = True

    @staticmethod
    def make_mamba(config) -> nn.Module:
        return Mamba2Mixer(Mamba2Shape.of_granite(config))


class BambaBody(JambaBody):
    layer_class = BambaLayer


class _Bamba(JambaHeads):
    make_body = staticmethod(BambaBody)
    family = "Bamba"


class BambaForCausalLM(_Bamba, DecoderForCausalLM):
    pass


class BambaForSequenceClassification(_Bamba, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class BambaModel(_Bamba, DecoderForEmbedding):
    pass
