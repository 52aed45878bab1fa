"""OpenAI's privacy filter (``OpenAIPrivacyFilterForTokenClassification``, openai/privacy-filter): a PII
tagger. A bidirectional encoder of GPT-OSS's blocks labels every token (BIOES tags of account numbers,
addresses, dates, e-mails, people, phone numbers, URLs and secrets: the config's ``id2label``).

Per layer, pre-norm (RMSNorm):
- attention: biased q/k/v/o, grouped kv heads, YaRN rotary over (2i, 2i + 1) pairs, a learned sink
  logit per head in each softmax's denominator (``sinks``), every token seeing the keys within
  ``sliding_window`` positions on either side (transformers' inclusive radius);
- experts: GPT-OSS's (gpt_oss.py), each expert's gate and up halves side by side, computed in
  float32 as transformers does.

The pair rotary runs as the usual half rotary: each head's q and k rows are put evens-then-odds as
they load (``FusedLinear.shard_load_orders``), which changes no score, since q·k sums over the same
pairs. The ``score`` head labels each token.
"""

from __future__ import annotations

from typing import Optional

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.models.decoder import BlockOptions, DecoderForTokenClassification
from multiscore.models.gpt_oss import GptOssMoE


def privacy_filter_options(config) -> BlockOptions:
    # GPT-OSS's experts, [gate | up] halves, in float32 as transformers computes them.
    return BlockOptions(qkv_bias=True, o_bias=True, pair_rotary=True, attention_sinks=True,
                        mlp_for_layer=lambda config, options, layer_id: GptOssMoE(config, interleaved=False, float32=True))


class OpenAIPrivacyFilterForTokenClassification(DecoderForTokenClassification):
    """``model.*`` and the ``score`` head (with its bias) on every token; bidirectional."""

    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER
    options_for = staticmethod(privacy_filter_options)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        for layer in self.model.layers:  # |i - j| <= sliding_window, as the backend's |i - j| < window
            layer.self_attn.window = config.sliding_window + 1
