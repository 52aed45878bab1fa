"""T5 encoders (``T5EncoderModel``: sentence-transformers' gtr-t5-* and sentence-t5-*, mean-pooled,
with a Dense layer and Normalize in their files; also ``MT5EncoderModel``).

Pre-norm blocks with T5's RMS norm (no mean, no bias), attention with no 1/sqrt(d) scaling and a
relative-position bias that only the first block holds (``relative_attention_bias`` [buckets,
heads], T5's bidirectional buckets, shared by every block: relative_bias.py), and a feed-forward that is
``wo(act(wi(x)))`` or, gated (T5 v1.1, ``gated-gelu``), ``wo(act(wi_0(x)) · wi_1(x))``. Names:
``shared``, ``encoder.block.N.layer.0.{layer_norm, SelfAttention.{q,k,v,o}}``,
``encoder.block.N.layer.1.{layer_norm, DenseReluDense.{wi|wi_0,wi_1, wo}}``, ``encoder.final_layer_norm``.

UMT5 (``UMT5EncoderModel``: google/umt5-*, the text encoder of several video models): the same blocks, each
with its own relative bias table.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.fused_ops import rms_norm
from multiscore.layers.linear import EAGER_ACTIVATIONS, FusedLinear, Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel, embedding_pooler
from multiscore.models.relative_bias import RelativeBias
from multiscore.models.sequence_chunks import attend_in_chunks, sequence_chunks

T5_PACKED_MODULES = {"q": ("qkv", "q"), "k": ("qkv", "k"), "v": ("qkv", "v"), "wi_0": ("wi_01", 0), "wi_1": ("wi_01", 1)}


class T5LayerNorm(nn.Module):
    """T5's norm: x / rms(x) in float32, times ``weight`` (no mean, no bias)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class T5SelfAttention(nn.Module):
    """``SelfAttention``: q/k/v fused (``qkv``), scores unscaled plus the relative bias, then ``o``."""

    def __init__(self, config, has_bias_table: bool) -> None:
        super().__init__()
        self.num_heads, self.head_dim = config.num_heads, config.d_kv
        inner = self.num_heads * self.head_dim
        self.qkv = FusedLinear(config.d_model, {"q": inner, "k": inner, "v": inner}, bias=False)
        self.o = Linear(inner, config.d_model, bias=False)
        self.relative_attention_bias = (nn.Embedding(config.relative_attention_num_buckets, self.num_heads)
                                        if has_bias_table else None)

    def forward(self, x: torch.Tensor, chunks, bias: RelativeBias) -> torch.Tensor:
        """x [T, d_model] -> [T, d_model]."""
        T = x.shape[0]
        q, k, v = self.qkv(x).view(T, 3, self.num_heads, self.head_dim).unbind(1)  # [T, heads, D] each
        return self.o(attend_in_chunks(q, k, v, chunks, 1.0, bias=bias).reshape(T, -1))  # T5 does not scale


class T5FeedForward(nn.Module):
    """``DenseReluDense``: ``wo(act(wi(x)))``, or gated ``wo(act(wi_0(x)) · wi_1(x))`` (``wi_0``/``wi_1`` fused)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.gated = bool(getattr(config, "is_gated_act", False))
        self.act = EAGER_ACTIVATIONS[hf_activation(config.dense_act_fn, "dense_act_fn")]
        if self.gated:
            self.wi_01 = FusedLinear(config.d_model, {0: config.d_ff, 1: config.d_ff}, bias=False)
        else:
            self.wi = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.gated:
            return self.wo(self.act(self.wi(x)))
        gate, up = self.wi_01(x).chunk(2, dim=-1)  # [T, d_ff] each
        return self.wo(self.act(gate) * up)


class T5Block(nn.Module):
    """``block.N``: ``layer.0`` (norm, attention, residual) and ``layer.1`` (norm, feed-forward, residual)."""

    def __init__(self, config, first: bool) -> None:
        super().__init__()
        attn, ff = nn.Module(), nn.Module()
        attn.layer_norm, attn.SelfAttention = T5LayerNorm(config.d_model, config.layer_norm_epsilon), T5SelfAttention(config, first)
        ff.layer_norm, ff.DenseReluDense = T5LayerNorm(config.d_model, config.layer_norm_epsilon), T5FeedForward(config)
        self.layer = nn.ModuleList([attn, ff])

    def forward(self, x: torch.Tensor, chunks, bias: RelativeBias, keep_rows=None) -> torch.Tensor:
        attn, ff = self.layer
        out = attn.SelfAttention(attn.layer_norm(x), chunks, bias)
        if keep_rows is not None:  # every row was a key; only these go on
            out, x = out.index_select(0, keep_rows), x.index_select(0, keep_rows)
        x = x + out
        return x + ff.DenseReluDense(ff.layer_norm(x))


class T5DecoderBlock(nn.Module):
    """``decoder.block.N``: ``layer.0`` self-attention (with the bias table where ``has_bias_table``), ``layer.1``
    cross-attention (``EncDecAttention``), ``layer.2`` feed-forward, each pre-normed with a residual add. The layout;
    its users' forwards compute it (monot5.py: one step; t5_classifier.py: a whole sequence)."""

    def __init__(self, config, has_bias_table: bool) -> None:
        super().__init__()
        eps = config.layer_norm_epsilon
        attn, cross, ff = nn.Module(), nn.Module(), nn.Module()
        attn.layer_norm, attn.SelfAttention = T5LayerNorm(config.d_model, eps), T5SelfAttention(config, has_bias_table)
        cross.layer_norm, cross.EncDecAttention = T5LayerNorm(config.d_model, eps), T5SelfAttention(config, False)
        ff.layer_norm, ff.DenseReluDense = T5LayerNorm(config.d_model, eps), T5FeedForward(config)
        self.layer = nn.ModuleList([attn, cross, ff])


class T5EncoderModel(PoolingModel):
    """The encoder as an embedding model, pooled as its sentence-transformers files say (GTR,
    sentence-t5: mean, Dense, normalised); without them, the mean of its tokens."""

    kind = ModelKind.ENCODER_EMBEDDING
    packed_modules_mapping = T5_PACKED_MODULES
    bias_per_block = False  # UMT5's: every block its own relative bias table

    @classmethod
    def default_pooling(cls, hf_config) -> str:
        return PoolingMethod.MEAN.value

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        if getattr(config, "num_layers", 0) < 1:
            raise ValueError("a T5 encoder needs num_layers >= 1")
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = nn.Module()
        self.encoder.block = nn.ModuleList(T5Block(config, first=i == 0 or self.bias_per_block)
                                           for i in range(config.num_layers))
        self.encoder.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.pooler = embedding_pooler(pooling, PoolingMethod.MEAN)

    def hidden_states(self, batch, attention, rows):
        """The packed batch -> final hidden states at ``rows`` [R, d_model] ([T, d_model] for None).
        The attention backend is not used: the relative bias is added here."""
        x = self.shared(batch.input_ids)  # [T, d_model]
        chunks = list(sequence_chunks([layout.start for layout in batch.layouts], batch.seq_lens, x.device, align_keys=True))
        blocks = self.encoder.block
        tables = [block.layer[0].SelfAttention.relative_attention_bias for block in blocks[: len(blocks) if self.bias_per_block else 1]]
        biases = [RelativeBias(table, self.config.relative_attention_max_distance) for table in tables]
        for i, block in enumerate(blocks):
            x = block(x, chunks, biases[i if self.bias_per_block else 0], rows if i == len(blocks) - 1 else None)
        return self.encoder.final_layer_norm(x)


MT5EncoderModel = T5EncoderModel  # mT5's encoder: the same layers (gated GELU), its own vocabulary


class UMT5EncoderModel(T5EncoderModel):
    bias_per_block = True


class T5ForTokenClassification(T5EncoderModel):
    """``transformer.*`` (T5's encoder) + ``classifier`` on every token's final (normed) state: the taggers fine-tuned
    on T5's, mT5's and UMT5's encoders."""

    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER
    weight_prefix_aliases = {"transformer.": ""}

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(config.d_model, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))  # token requests: every row


MT5ForTokenClassification = T5ForTokenClassification


class UMT5ForTokenClassification(T5ForTokenClassification):
    bias_per_block = True
