"""Two of Llama's kin under their own names.

- Helium (kyutai/helium-1-2b, ``helium``): Llama's block, rotary over interleaved (2i, 2i + 1) pairs
  (served as the half rotary, q/k rows reordered as they load), o_proj never biased.
- EXAONE 3.0 / 3.5 (LGAI-EXAONE, ``exaone``; transformers serves it as Llama): Llama's block under the
  published GPT-2-style names (``transformer.h.N.attn.attention.*``, ``mlp.c_fc_0`` gate / ``c_fc_1`` up /
  ``c_proj`` down, ``ln_1`` / ``ln_2`` / ``ln_f``), renamed as they load; our ``ExaoneForSequenceClassification``
  for ``classifier_from_token``."""

from dataclasses import replace

from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
)
from multiscore.models.llama import llama_options


def helium_options(config):
    return replace(llama_options(config), o_bias=False, pair_rotary=True)


class HeliumForCausalLM(DecoderForCausalLM):
    options_for = staticmethod(helium_options)


class HeliumForSequenceClassification(DecoderForSequenceClassification):
    options_for = staticmethod(helium_options)


class HeliumForTokenClassification(DecoderForTokenClassification):
    options_for = staticmethod(helium_options)


class HeliumModel(DecoderForEmbedding):
    options_for = staticmethod(helium_options)


class _Exaone:
    options_for = staticmethod(llama_options)
    # The published names -> Llama's, in order (as transformers' own conversion for ``exaone``).
    weight_renames = {"transformer.wte.": "model.embed_tokens.", "transformer.h.": "model.layers.",
                      "transformer.ln_f.": "model.norm.", ".attn.attention.": ".self_attn.",
                      ".self_attn.out_proj.": ".self_attn.o_proj.", ".ln_1.": ".input_layernorm.",
                      ".ln_2.": ".post_attention_layernorm.", ".mlp.c_fc_0.": ".mlp.gate_proj.",
                      ".mlp.c_fc_1.": ".mlp.up_proj.", ".mlp.c_proj.": ".mlp.down_proj."}


class ExaoneForCausalLM(_Exaone, DecoderForCausalLM):
    pass


class ExaoneForSequenceClassification(_Exaone, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class ExaoneModel(_Exaone, DecoderForEmbedding):
    pass
