"""GPT-J (EleutherAI/gpt-j-6b, GPT4All-J and the fine-tunes on it): ``GPTJForCausalLM`` (read at label tokens;
its LM head has a bias), ``GPTJForSequenceClassification``, ``GPTJModel``; and CodeGen (Salesforce/codegen-*:
``CodeGenForCausalLM``, ``CodeGenModel``), GPT-J's block with one fused ``qkv_proj`` in its own row layout.

Parallel blocks (cohere.py's ``ParallelLayer``): one LayerNorm (``ln_1``) feeds attention (q/k/v and
``out_proj`` without biases; rotary on the first ``rotary_dim`` of each head over (2i, 2i + 1) pairs, served as
the half rotary with those rows put evens-then-odds as they load) and an MLP (``fc_in``, ``activation_function``,
``fc_out``, biased), their outputs added to the input together; a final ``ln_f``. Checkpoints name the body
``transformer.`` (``wte``, ``h.N``, ``ln_f``), served under the decoder's names as they load.

MIS is exact: rotary by each item token's single-item position.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.rotary import rotary_dims
from multiscore.models.cohere import ParallelBody, ParallelLayer
from multiscore.models.decoder import (
    BlockOptions,
    DecoderAttention,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    pairs_first,
)
from multiscore.models.phi import BiasedLmHeadCausalLM, PhiMlp


def gptj_layer(config, window: Optional[int], layer_id: int) -> ParallelLayer:
    attention = DecoderAttention(config, BlockOptions(pair_rotary=True), window, layer_id=layer_id)
    return ParallelLayer(nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon), attention, PhiMlp(config))


def codegen_layer(config, window: Optional[int], layer_id: int) -> ParallelLayer:
    layer = gptj_layer(config, window, layer_id)
    layer.self_attn.qkv_proj.load_row_order = codegen_qkv_order(config)
    return layer


def codegen_qkv_order(config) -> torch.Tensor:
    """CodeGen's ``qkv_proj`` rows [3E] in our order [q | k | v], q and k pairs first. It stores 4 blocks (its
    ``mp_num``), each [q | v | k] of width L = E / 4; a projection's rows are its parts of the 4 blocks in turn."""
    width = config.hidden_size
    part = width // 4
    rows = torch.arange(width, device="cpu")
    first = rows // part * 3 * part + rows % part  # [E] each q row's place; v's are L later, k's 2L
    heads = config.num_attention_heads
    pairs = pairs_first(heads, width // heads, rotary_dims(config, width // heads))
    return torch.cat([first[pairs], (first + 2 * part)[pairs], first + part])


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


class _CodeGen(_GptJ):
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if hf_config.num_attention_heads % 4:
            raise ValueError(f"CodeGen splits its heads over 4 blocks; {hf_config.num_attention_heads} heads do not")
        super().adapt_config(hf_config)

    def make_body(self, config) -> nn.Module:
        return ParallelBody(config, codegen_layer, nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon))


class CodeGenForCausalLM(_CodeGen, BiasedLmHeadCausalLM):
    pass


class CodeGenModel(_CodeGen, DecoderForEmbedding):
    pass
