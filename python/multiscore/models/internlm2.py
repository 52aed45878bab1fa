"""InternLM2 (internlm/internlm2-*, their chat models and reward models): remote code (model_type
``internlm2``) whose config is Llama's plus ``bias``, read as Llama's (configs/checkpoint_layouts.py).
``InternLM2ForCausalLM`` (read at label tokens) and ``InternLM2ForRewardModel`` (``v_head`` [1, H] at
the last token: the reward, no activation; vLLM's /pooling gives it per token by default, as here).

Llama's block under its own names (``attention.wqkv`` / ``wo``, ``feed_forward.w1`` / ``w3`` / ``w2``,
``attention_norm``, ``ffn_norm``, ``tok_embeddings``, the LM head ``output``), biases on wqkv and wo
with ``bias``. ``wqkv`` stacks its rows per key/value head: that head's query heads, its key, its
value; they are put in q | k | v order as they load (``Linear.load_row_order``).
"""

from __future__ import annotations

from torch import nn

from multiscore.configs.attention_geometry import head_dim_of
from multiscore.layers.linear import grouped_to_blocked
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderModel,
    mlp_activation,
)


def internlm2_options(config) -> BlockOptions:
    bias = bool(getattr(config, "bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, mlp_act=mlp_activation(config))


class _InternLM2:
    options_for = staticmethod(internlm2_options)
    # Its names -> ours (DecoderModel's; GatedMLP's through DECODER_PACKED_MODULES). ``output.`` is the LM head.
    weight_renames = {"model.tok_embeddings.": "model.embed_tokens.", "attention.wqkv.": "self_attn.qkv_proj.",
                      "attention.wo.": "self_attn.o_proj.", "attention_norm.": "input_layernorm.",
                      "ffn_norm.": "post_attention_layernorm.", "feed_forward.w1.": "mlp.gate_proj.",
                      "feed_forward.w3.": "mlp.up_proj.", "feed_forward.w2.": "mlp.down_proj.", "output.": "lm_head."}

    def make_body(self, config) -> nn.Module:
        body = DecoderModel(config, self.options_for(config))
        kv_heads, d = config.num_key_value_heads, head_dim_of(config)
        # Per kv head: its query heads, its key, its value -> all q | all k | all v.
        order = grouped_to_blocked(kv_heads, [config.num_attention_heads // kv_heads * d, d, d])
        for layer in body.layers:
            layer.self_attn.qkv_proj.load_row_order = order
        return body


class InternLM2ForCausalLM(_InternLM2, DecoderForCausalLM):
    pass


class InternLM2ForRewardModel(_InternLM2, DecoderForSequenceClassification):
    """The reward: ``v_head`` at each item's last token (one label, no activation: a regression)."""

    weight_renames = {**_InternLM2.weight_renames, "v_head.": "score."}
    default_pooling_task = "token_classify"  # vLLM's /pooling default for it: the reward at every token

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.num_labels = 1
        hf_config.problem_type = "regression"


class InternLM2Model(_InternLM2, DecoderForEmbedding):
    pass
