"""GPT-J (EleutherAI/gpt-j-6b, GPT4All-J and the fine-tunes on it): ``GPTJForCausalLM`` (read at label tokens;
its LM head has a bias), ``GPTJForSequenceClassification``, ``GPTJModel``.

Parallel blocks (cohere.py's ``ParallelLayer``): one LayerNorm (``ln_1``) feeds attention (q/k/v and
``out_proj`` without biases; rotary on the first ``rotary_dim`` of each head over (2i, 2i + 1) pairs, served as
the half rotary with those rows put evens-then-odds as they load) and an MLP (``fc_in``, ``activation_function``,
``fc_out``, biased), their outputs added to the input together; a final ``ln_f``. Checkpoints name the body
``transformer.`` (``wte``, ``h.N``, ``ln_f``), served under the decoder's names as they load.

MIS is exact: rotary by each item token's single-item position.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from multiscore.models.cohere import ParallelBody, ParallelLayer
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
)
from multiscore.models.phi import BiasedLmHeadCausalLM, PhiMlp


def gptj_layer(config, window: Optional[int], layer_id: int) -> ParallelLayer:
    attention = DecoderAttention(config, BlockOptions(pair_rotary=True), window, layer_id=layer_id)
    return ParallelLayer(nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon), attention, PhiMlp(config))


class _GptJ:
    # ``transformer.h.N`` (a bare GPTJModel's ``h.N``) -> ``model.layers.N``; the rest by weight_renames.
    weight_prefix_aliases = {"transformer.h.": "model.layers.", "h.": "model.layers.", "transformer.": "model.", "": "model."}
    weight_renames = {"wte.": "embed_tokens.", "ln_f.": "norm.", ".ln_1.": ".input_layernorm.", ".attn.out_proj.": ".self_attn.o_proj.",
                      ".attn.": ".self_attn.", ".mlp.fc_in.": ".mlp.fc1.", ".mlp.fc_out.": ".mlp.fc2."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        # The names PhiMlp and the rotary read: the MLP's width and activation, the rotated share of each head.
        hf_config.intermediate_size = hf_config.n_inner or 4 * hf_config.hidden_size
        hf_config.hidden_act = hf_config.activation_function
        head_dim = hf_config.hidden_size // hf_config.num_attention_heads
        hf_config.partial_rotary_factor = (hf_config.rotary_dim or head_dim) / head_dim

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, gptj_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon))


class GPTJForCausalLM(_GptJ, BiasedLmHeadCausalLM):
    pass


class GPTJForSequenceClassification(_GptJ, DecoderForSequenceClassification):
    pass


class GPTJModel(_GptJ, DecoderForEmbedding):
    pass
