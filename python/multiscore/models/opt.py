"""OPT (facebook/opt-125m ... 66b, Galactica, and the classifiers fine-tuned on them): ``OPTForCausalLM``
(read at label tokens), ``OPTForSequenceClassification`` (``score`` at the last token) and ``OPTModel``.

Learned positions looked up at position + 2 (OPT's offset), added to the token embeddings (brought
to the hidden size by ``project_in`` when ``word_embed_proj_dim`` differs: opt-350m); per layer,
biased q/k/v/``out_proj`` attention and a ``fc1`` -> ``activation_function`` -> ``fc2`` MLP, each with a
LayerNorm before it (``do_layer_norm_before``) or after its residual add (opt-350m); a final
LayerNorm with pre-norm layers, then ``project_out``. The LM head is tied to the token embeddings.
Checkpoints name the body ``model.decoder.*`` (a bare OPTModel: ``decoder.*``).

XGLM (``XGLMForCausalLM``, ``XGLMModel``): the pre-norm body, token embeddings scaled by √d_model, sinusoidal
positions (XglmBody). BioGPT: the pre-norm body with scaled embeddings, under its own names.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear, hf_activation
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    with_embed_overrides,
)

_POSITION_OFFSET = 2  # OPT's learned positions start at row 2 (rows 0, 1: its padding idea, unused)


class OptAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        bias = bool(getattr(config, "enable_bias", True))
        self.qkv_proj = FusedLinear(H, {"q": H, "k": H, "v": H}, bias=bias)
        self.out_proj = Linear(H, H, bias=bias)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, H = x.shape
        q, k, v = self.qkv_proj(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        # transformers scales q before the product; the same number up to rounding.
        return self.out_proj(attention(q, k, v, self.head_dim**-0.5, layer=self.layer_id).reshape(T, H))


class OptLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, affine = config.hidden_size, bool(getattr(config, "layer_norm_elementwise_affine", True))
        bias = bool(getattr(config, "enable_bias", True))
        self.self_attn = OptAttention(config, layer_id)
        self.self_attn_layer_norm = nn.LayerNorm(H, elementwise_affine=affine)
        self.fc1 = Linear(H, config.ffn_dim, bias=bias)
        self.fc2 = Linear(config.ffn_dim, H, bias=bias)
        self.final_layer_norm = nn.LayerNorm(H, elementwise_affine=affine)
        self.activation = hf_activation(config.activation_function, "activation_function")
        self.norm_before = bool(config.do_layer_norm_before)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        if self.norm_before:
            x = x + self.self_attn(self.self_attn_layer_norm(x), attention)
            return x + self.fc2(self.fc1(self.final_layer_norm(x), self.activation))
        x = self.self_attn_layer_norm(x + self.self_attn(x, attention))
        return self.final_layer_norm(x + self.fc2(self.fc1(x, self.activation)))


class OptBody(nn.Module):
    """``model.decoder.*``: ``embed_tokens``, ``embed_positions``, ``layers.N``, ``final_layer_norm``,
    ``project_in`` / ``project_out``."""

    def __init__(self, config) -> None:
        super().__init__()
        H, E = config.hidden_size, config.word_embed_proj_dim
        self.embed_tokens = nn.Embedding(config.vocab_size, E)
        self.embed_positions = nn.Embedding(config.max_position_embeddings + _POSITION_OFFSET, H)
        self.project_in = Linear(E, H, bias=False) if E != H else None
        self.project_out = Linear(H, E, bias=False) if E != H else None
        self.layers = nn.ModuleList(OptLayer(config, i) for i in range(config.num_hidden_layers))
        final_norm = config.do_layer_norm_before and not getattr(config, "_remove_final_layer_norm", False)
        affine = bool(getattr(config, "layer_norm_elementwise_affine", True))
        self.final_layer_norm = nn.LayerNorm(H, elementwise_affine=affine) if final_norm else None
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms
        self.embed_scale = math.sqrt(H) if getattr(config, "scale_embedding", False) else 1.0  # BioGPT's, XGLM's

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, E] at ``keep_rows`` ([T, E] for None).
        ``embed_overrides``: (rows [K], vectors [K, E]) that replace those rows' token embeddings."""
        x = self.embed(input_ids, positions, embed_overrides)  # [T, H]
        for layer in self.layers:
            x = layer(x, attention)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        return x if self.project_out is None else self.project_out(x)


    def embed(self, input_ids: torch.Tensor, positions: torch.Tensor, embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> the first layer's input [T, H]: token embeddings (times ``embed_scale``; given
        vectors unscaled) plus learned positions."""
        x = self.embed_tokens(input_ids)
        x = with_embed_overrides(x if self.embed_scale == 1.0 else x * self.embed_scale, embed_overrides)  # [T, E]
        if self.project_in is not None:
            x = self.project_in(x)
        return x + self.embed_positions(positions + _POSITION_OFFSET)


class XglmBody(OptBody):
    """XGLM's ``model.*``: OPT's pre-norm body with token embeddings times √d_model (``scale_embedding``) and
    sinusoidal positions computed, not stored (row p + 2 of [sin(p·f) | cos(p·f)], f_j = 10000^(-j / (d/2 - 1)))."""

    def __init__(self, config) -> None:
        super().__init__(config)
        del self.embed_positions
        half = config.hidden_size // 2
        with torch.device("cpu"):  # a real table even while the model is built on the meta device
            self.frequencies = torch.exp(torch.arange(half).float() * -(math.log(10000) / (half - 1)))  # [H / 2]

    def embed(self, input_ids: torch.Tensor, positions: torch.Tensor, embed_overrides=None) -> torch.Tensor:
        x = with_embed_overrides(self.embed_tokens(input_ids) * self.embed_scale, embed_overrides)  # given ones unscaled
        angles = (positions + _POSITION_OFFSET).float()[:, None] * self.frequencies.to(positions.device)[None]  # [T, H/2]
        table = torch.cat([angles.sin(), angles.cos()], dim=-1)
        if table.shape[1] < x.shape[1]:  # an odd width: a zero column
            table = torch.nn.functional.pad(table, (0, 1))
        return x + table.to(x.dtype)


class _Opt:
    """The decoder heads (decoder.py) over this body; their width is ``word_embed_proj_dim``."""

    weight_prefix_aliases = {"model.decoder.": "model.", "decoder.": "model."}

    def make_body(self, config) -> nn.Module:
        return OptBody(config)

    @staticmethod
    def output_width(config) -> int:
        return config.word_embed_proj_dim


class OPTForCausalLM(_Opt, DecoderForCausalLM):
    pass


class OPTForSequenceClassification(_Opt, DecoderForSequenceClassification):
    pass


class OPTModel(_Opt, DecoderForEmbedding):
    pass


class _Xglm(_Opt):
    """XGLM (facebook/xglm-564M ... 7.5B): its final LayerNorm named ``layer_norm``."""

    weight_renames = {"model.layer_norm.": "model.final_layer_norm."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.do_layer_norm_before, hf_config.word_embed_proj_dim = True, hf_config.hidden_size  # OPT's names

    def make_body(self, config) -> nn.Module:
        return XglmBody(config)


class XGLMForCausalLM(_Xglm, DecoderForCausalLM):
    pass


class XGLMForSequenceClassification(_Xglm, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class XGLMModel(_Xglm, DecoderForEmbedding):
    pass


class _BioGpt(_Opt):
    """BioGPT (microsoft/biogpt, BioGPT-Large, -PubMedQA): OPT's pre-norm body (LayerNorms at eps 1e-5 whatever
    ``layer_norm_eps`` says, as transformers builds them), token embeddings times √hidden, exact GELU; the body named
    ``biogpt.``, the LM head ``output_projection``, the token classifier ``classifier``."""

    weight_prefix_aliases = {"biogpt.": "model."}
    weight_renames = {"biogpt.layer_norm.": "model.final_layer_norm.", "output_projection.": "lm_head.",
                      "classifier.": "score."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.do_layer_norm_before, hf_config.word_embed_proj_dim = True, hf_config.hidden_size  # OPT's names
        hf_config.ffn_dim, hf_config.activation_function = hf_config.intermediate_size, hf_config.hidden_act


class BioGptForCausalLM(_BioGpt, DecoderForCausalLM):
    pass


class BioGptForSequenceClassification(_BioGpt, DecoderForSequenceClassification):
    pass


class BioGptForTokenClassification(_BioGpt, DecoderForTokenClassification):
    pass


class BioGptModel(_BioGpt, DecoderForEmbedding):
    pass
