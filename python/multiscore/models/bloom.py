"""BLOOM (bigscience/bloom-560m ... bloom-7b1, bloom, BLOOMZ, and the classifiers fine-tuned on them):
``BloomForCausalLM`` (read at label tokens), ``BloomForSequenceClassification``,
``BloomForTokenClassification`` and ``BloomModel``.

Token embeddings and a LayerNorm on them (``word_embeddings_layernorm``); per block (``h.N``), biased
LayerNorms before attention (``self_attention``: ``query_key_value`` with q/k/v rows per head, ``dense``) and
before the MLP (``dense_h_to_4h``, GELU-tanh, ``dense_4h_to_h``), with ``apply_residual_connection_post_layernorm``
adding the normed input instead of the input; a final ``ln_f``; no position embeddings but ALiBi
(layers/alibi.py), the LM head tied to the embeddings. Checkpoints name the body ``transformer.``
(bigscience's own files use no prefix).

MIS is exact: ALiBi reads each key's single-item position.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.alibi import Alibi, alibi_slopes, run_alibi_blocks
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import Linear, hf_activation
from multiscore.models.decoder import (
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    DecoderForTokenClassification,
    with_embed_overrides,
)


class BloomAttention(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, self.num_heads, self.layer_id = config.hidden_size, config.num_attention_heads, layer_id
        self.head_dim = H // self.num_heads
        self.query_key_value = Linear(H, 3 * H)
        self.dense = Linear(H, H)
        self.scale = self.head_dim**-0.5
        with torch.device("cpu"):  # real numbers even when the model is built on the meta device
            self.alibi = Alibi(alibi_slopes(self.num_heads))

    def forward(self, x: torch.Tensor, attention: BatchAttention, k_dims: torch.Tensor) -> torch.Tensor:
        """x [T, H], ``k_dims`` [T, 1, ALIBI_DIMS] (alibi.key_dims) -> [T, H], before the residual add."""
        T, H = x.shape
        q, k, v = self.query_key_value(x).view(T, self.num_heads, 3, self.head_dim).unbind(2)  # [T, heads, D] each
        out = self.alibi.attend(attention, q, k, v, self.scale, k_dims, self.layer_id)  # [T, heads, D]
        return self.dense(out.reshape(T, H))


class BloomMlp(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        H = config.hidden_size
        self.dense_h_to_4h = Linear(H, 4 * H)
        self.dense_4h_to_h = Linear(4 * H, H)
        self.activation = hf_activation("gelu_pytorch_tanh")  # bloom_gelu_forward: GELU's tanh form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(self.dense_h_to_4h(x, self.activation))


class BloomBlock(nn.Module):
    def __init__(self, config, layer_id: int) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_epsilon
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)
        self.self_attention = BloomAttention(config, layer_id)
        self.mlp = BloomMlp(config)
        self.residual_is_normed = bool(config.apply_residual_connection_post_layernorm)

    def forward(self, x: torch.Tensor, attention: BatchAttention, k_dims: torch.Tensor) -> torch.Tensor:
        normed = self.input_layernorm(x)
        x = (normed if self.residual_is_normed else x) + self.self_attention(normed, attention, k_dims)
        normed = self.post_attention_layernorm(x)
        return (normed if self.residual_is_normed else x) + self.mlp(normed)


class BloomBody(nn.Module):
    """``transformer.*``: ``word_embeddings``, ``word_embeddings_layernorm``, blocks ``h.N``, ``ln_f``."""

    def __init__(self, config) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.layer_norm_epsilon
        self.word_embeddings = nn.Embedding(config.vocab_size, H)
        self.word_embeddings_layernorm = nn.LayerNorm(H, eps=eps)
        self.h = nn.ModuleList(BloomBlock(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(H, eps=eps)
        self.ops = EAGER  # the decoder heads' protocol (use_fused_ops); this body's norms are LayerNorms

    @property
    def embed_tokens(self) -> nn.Embedding:
        """The token embeddings, by the name the decoder heads tie the LM head to."""
        return self.word_embeddings

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states [R, H] at ``keep_rows`` ([T, H] for None)."""
        x = with_embed_overrides(self.word_embeddings(input_ids), embed_overrides)  # [T, H]
        return run_alibi_blocks(self.word_embeddings_layernorm(x), positions, self.h, attention, keep_rows, self.ln_f)


class _Bloom:
    # transformers' checkpoints name the body ``transformer.``; bigscience's own files have no prefix.
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    def make_body(self, config) -> nn.Module:
        return BloomBody(config)


class BloomForCausalLM(_Bloom, DecoderForCausalLM):
    pass


class BloomForSequenceClassification(_Bloom, DecoderForSequenceClassification):
    pass


class BloomForTokenClassification(_Bloom, DecoderForTokenClassification):
    weight_renames = {"classifier.": "score."}  # transformers' name for the token head


class BloomModel(_Bloom, DecoderForEmbedding):
    pass
