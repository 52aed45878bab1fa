"""nanochat (karpathy/nanochat and the checkpoints trained with it): ``NanoChatForCausalLM``, ``NanoChatModel``,
and our ``NanoChatForSequenceClassification`` (for ``classifier_from_token``).

Llama's pre-norm block with every RMSNorm weightless (the embeddings normed too, before the first layer), a
rotary that turns the other way (its rotate_half is the negative of Llama's), the per-head q/k norm after it, an ungated MLP fc2(relu(fc1(x))²) without biases (``hidden_act`` relu2), and
soft-capped logits (``final_logit_softcapping``).

MIS is exact: everything but attention is per token.
"""

from __future__ import annotations

import torch
from torch import nn

from multiscore.layers.norm import WeightlessRMSNorm
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderModel,
    ForwardContext,
)
from multiscore.models.arcee import ArceeMLP


class NanoChatBody(DecoderModel):
    """``model.*``: DecoderModel with weightless norms, the embeddings normed before the first layer."""

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__(config, options)
        norm = lambda: WeightlessRMSNorm(config.rms_norm_eps)  # noqa: E731
        self.norm = norm()
        for layer in self.layers:
            layer.input_layernorm, layer.post_attention_layernorm = norm(), norm()
            layer.self_attn.q_norm, layer.self_attn.k_norm = norm(), norm()

    def context(self, positions: torch.Tensor, dtype: torch.dtype, attention) -> ForwardContext:
        """Llama's, the sines negated: nanochat's rotate_half is the negative of Llama's, so it rotates the other way."""
        ctx = super().context(positions, dtype, attention)
        ctx.sin = -ctx.sin
        return ctx

    def embed(self, input_ids: torch.Tensor, embed_overrides=None) -> torch.Tensor:
        """input_ids [T] -> the normed token embeddings [T, H]."""
        return self.ops.rms_norm(super().embed(input_ids, embed_overrides), None, self.norm.eps)


def nanochat_options(config) -> BlockOptions:
    bias = bool(getattr(config, "attention_bias", False))
    return BlockOptions(qkv_bias=bias, o_bias=bias, qk_norm_after_rotary=True,
                        mlp_for_layer=lambda config, options, layer_id: ArceeMLP(config))


class _NanoChat:
    options_for = staticmethod(nanochat_options)
    weight_renames = {".mlp.fc1.": ".mlp.up_proj.", ".mlp.fc2.": ".mlp.down_proj."}  # Arcee's squared-ReLU MLP's names

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.hidden_act != "relu2":
            raise ValueError(f"nanochat with hidden_act {hf_config.hidden_act!r} is not supported (relu2 is)")
        hf_config.mlp_bias = False  # the name SquaredReluMLP reads

    def make_body(self, config) -> nn.Module:
        return NanoChatBody(config, self.options_for(config))


class NanoChatForCausalLM(_NanoChat, DecoderForCausalLM):
    pass


class NanoChatForSequenceClassification(_NanoChat, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class NanoChatModel(_NanoChat, DecoderForEmbedding):
    pass
