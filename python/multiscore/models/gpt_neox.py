"""GPT-NeoX (EleutherAI's Pythia suite, GPT-NeoX-20B, and the reward models and classifiers built on
them): ``GPTNeoXForCausalLM`` (read at label tokens), ``GPTNeoXForSequenceClassification`` (``score``
at the last token) and ``GPTNeoXModel``.

Per layer: LayerNorms before attention and MLP; attention from one fused ``query_key_value`` whose
rows are grouped per head ([heads, q | k | v, head_dim]), rotary on the first ``partial_rotary_factor``
of each head (Pythia: a quarter), ``dense`` out; a GELU MLP (``dense_h_to_4h``, ``dense_4h_to_h``).
With ``use_parallel_residual`` (Pythia) both read the layer's input and add to it together:
x + attn(ln1(x)) + mlp(ln2(x)); otherwise one after the other. A final LayerNorm; the LM head is
``embed_out`` in the hub's files (``lm_head`` in transformers').
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear, hf_activation
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    with_embed_overrides,
)


class NeoxAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        bias = bool(getattr(config, "attention_bias", True))
        self.query_key_value = Linear(H, 3 * H, bias=bias)
        self.dense = Linear(H, H, bias=bias)
        self.dense_bias: Optional[nn.Parameter] = None  # GPT-NeoX-Japanese's last layer: a bias after ``dense``
        if getattr(config, "qk_layernorm", False):  # Persimmon: one LayerNorm over head_dim for all heads, q's and k's
            self.q_layernorm = nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)
            self.k_layernorm = nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)
        self.qk_layernorm = bool(getattr(config, "qk_layernorm", False))

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor], attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H], before the residual add."""
        T, H = x.shape
        q, k, v = self.query_key_value(x).view(T, self.num_heads, 3, self.head_dim).unbind(2)  # [T, heads, D] each
        if self.qk_layernorm:
            q, k = self.q_layernorm(q), self.k_layernorm(k)
        out = attention(apply_rotary(q, *rotary), apply_rotary(k, *rotary), v, self.head_dim**-0.5, layer=self.layer_id)
        out = self.dense(out.reshape(T, H))
        return out if self.dense_bias is None else out + self.dense_bias


class NeoxMlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        bias = bool(getattr(config, "mlp_bias", True))
        self.dense_h_to_4h = Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.dense_4h_to_h = Linear(config.intermediate_size, config.hidden_size, bias=bias)
        self.squared = config.hidden_act == "relu2"  # Persimmon's: ReLU, squared
        self.activation = hf_activation("relu" if self.squared else config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dense_h_to_4h(x, self.activation)
        return self.dense_4h_to_h(h.square() if self.squared else h)


class NeoxLayer(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_eps
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)
        self.attention = NeoxAttention(config, layer_id)
        self.mlp = NeoxMlp(config)
        self.parallel = bool(getattr(config, "use_parallel_residual", True))

    def forward(self, x: torch.Tensor, rotary, attention: BatchAttention) -> torch.Tensor:
        attn = self.attention(self.input_layernorm(x), rotary, attention)
        if self.parallel:
            return x + attn + self.mlp(self.post_attention_layernorm(x))
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x))


class NeoxBody(nn.Module):
    """``gpt_neox.*``: ``embed_in``, ``layers.N``, ``final_layer_norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embed_in = nn.Embedding(config.vocab_size, config.hidden_size)
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms
        self.layers = nn.ModuleList(NeoxLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, config.hidden_size // config.num_attention_heads)

    @property
    def embed_tokens(self) -> nn.Embedding:
        """The token embeddings, by the name the decoder heads tie the LM head to."""
        return self.embed_in

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None).
        ``embed_overrides``: (rows [K], vectors [K, H]) that replace those rows' token embeddings."""
        x = with_embed_overrides(self.embed_in(input_ids), embed_overrides)  # [T, H]
        rotary = self.rotary_emb.cos_sin(positions, x.dtype)
        for layer in self.layers:
            x = layer(x, rotary, attention)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return self.final_layer_norm(x)


class _Neox:
    """The decoder heads (decoder.py) over this body."""

    # transformers' checkpoints name the body ``gpt_neox.``; a bare GPTNeoXModel's have no prefix.
    weight_prefix_aliases = {"gpt_neox.": "model.", "": "model."}
    weight_renames = {"embed_out.": "lm_head."}  # the hub's name for the LM head

    def make_body(self, config) -> nn.Module:
        return NeoxBody(config)


class GPTNeoXForCausalLM(_Neox, DecoderForCausalLM):
    pass


class GPTNeoXForSequenceClassification(_Neox, DecoderForSequenceClassification):
    pass


class GPTNeoXForTokenClassification(_Neox, DecoderForTokenClassification):
    weight_renames = {**_Neox.weight_renames, "classifier.": "score."}  # transformers' name for the token head


class GPTNeoXModel(_Neox, DecoderForEmbedding):
    pass


class _NeoxJapanese(_Neox):
    """GPT-NeoX-Japanese (abeja/gpt-neox-japanese-2.7b): GPT-NeoX's layers one after the other, no biases but a
    ``dense_bias`` after the last layer's attention, an MLP of hidden · ``intermediate_multiple_size``."""

    weight_prefix_aliases = {"gpt_neox_japanese.": "model.", "": "model."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.attention_bias = hf_config.mlp_bias = hf_config.use_parallel_residual = False  # NeoxLayer's names
        hf_config.intermediate_size = int(hf_config.hidden_size * hf_config.intermediate_multiple_size)

    def make_body(self, config) -> nn.Module:
        body = NeoxBody(config)
        body.layers[-1].attention.dense_bias = nn.Parameter(torch.empty(config.hidden_size))
        return body


class GPTNeoXJapaneseForCausalLM(_NeoxJapanese, DecoderForCausalLM):
    pass


class GPTNeoXJapaneseForSequenceClassification(_NeoxJapanese, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class GPTNeoXJapaneseModel(_NeoxJapanese, DecoderForEmbedding):
    pass


class _Persimmon(_Neox):
    """Persimmon (adept/persimmon-8b-*; Fuyu-8B's language model): GPT-NeoX's layers one after the other with one
    LayerNorm over head_dim shared by the heads on q and on k (``qk_layernorm``), half of each head rotating, a
    squared-ReLU MLP; under its own names (``self_attn``, ``embed_tokens``, ``final_layernorm``)."""

    weight_renames = {".self_attn.": ".attention.", "model.embed_tokens.": "model.embed_in.",
                      "model.final_layernorm.": "model.final_layer_norm."}

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.use_parallel_residual = False


class PersimmonForCausalLM(_Persimmon, DecoderForCausalLM):
    pass


class PersimmonForSequenceClassification(_Persimmon, DecoderForSequenceClassification):
    pass


class PersimmonForTokenClassification(_Persimmon, DecoderForTokenClassification):
    pass


class PersimmonModel(_Persimmon, DecoderForEmbedding):
    pass
