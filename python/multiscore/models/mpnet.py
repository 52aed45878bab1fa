"""MPNet encoders (``MPNetModel``: all-mpnet-base-v2, multi-qa-mpnet and other sentence-transformers
embedders; ``MPNetForSequenceClassification``).

BERT's post-norm layers, with three differences:
- the attention's projections are ``attention.attn.{q,k,v,o}`` and its LayerNorm ``attention.LayerNorm``;
- positions start after the padding index, as RoBERTa's, and there are no token types;
- every layer adds a relative-position bias to its scores: ``encoder.relative_attention_bias``
  [buckets, heads], shared by the layers and looked up by T5's bidirectional buckets of the
  distance j - i. It depends on positions only, so each chunk of sequences of similar length
  (sequence_chunks.py) gets one [H, L, L] float mask, with its padded keys at -inf, through SDPA.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier
from multiscore.models.bert import BertIntermediate, DenseResidualNorm
from multiscore.models.relative_bias import RelativeBias
from multiscore.models.sequence_chunks import attend_in_chunks, sequence_chunks
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead

MPNET_PACKED_MODULES = {"q": ("qkv", "q"), "k": ("qkv", "k"), "v": ("qkv", "v")}
class MPNetSelfAttention(nn.Module):
    """``attention.attn``: q/k/v fused (``qkv``), scores + the relative bias, then ``o``."""

    def __init__(self, config) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.qkv = FusedLinear(h, {"q": h, "k": h, "v": h}, bias=True)
        self.o = Linear(h, h)

    def forward(self, x: torch.Tensor, chunks, bias: RelativeBias) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        T, H = x.shape
        q, k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.qkv(x).split(H, dim=-1))
        return self.o(attend_in_chunks(q, k, v, chunks, self.head_dim**-0.5, bias=bias).reshape(T, H))


class MPNetAttention(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attn = MPNetSelfAttention(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, chunks, bias: RelativeBias, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        out = self.attn(x, chunks, bias)
        if keep_rows is not None:
            out, x = out.index_select(0, keep_rows), x.index_select(0, keep_rows)
        return self.LayerNorm(out + x)


class MPNetLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attention = MPNetAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = DenseResidualNorm(config.intermediate_size, config)

    def forward(self, x, chunks, bias: RelativeBias, keep_rows=None) -> torch.Tensor:
        x = self.attention(x, chunks, bias, keep_rows)
        return self.output(self.intermediate(x), x)


class MPNetBackbone(nn.Module):
    """``embeddings.{word,position}_embeddings``, ``embeddings.LayerNorm`` and
    ``encoder.{layer.N, relative_attention_bias}``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.position_offset = config.pad_token_id + 1  # positions after the padding index, as RoBERTa's
        e = self.embeddings = nn.Module()
        e.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        e.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        e.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(MPNetLayer(config) for _ in range(config.num_hidden_layers))
        self.encoder.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_attention_heads)

    def forward(self, batch, attention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None). The
        attention backend is not used: the relative bias is added here."""
        max_positions = self.config.max_position_embeddings - self.position_offset
        if max(batch.seq_lens, default=0) > max_positions:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the {max_positions} positions of the model")
        e = self.embeddings
        x = e.LayerNorm(e.word_embeddings(batch.input_ids) + e.position_embeddings(batch.positions + self.position_offset))
        chunks = list(sequence_chunks([layout.start for layout in batch.layouts], batch.seq_lens, x.device, align_keys=True))
        bias = RelativeBias(self.encoder.relative_attention_bias)
        layers = self.encoder.layer
        for i, layer in enumerate(layers):
            x = layer(x, chunks, bias, keep_rows if i == len(layers) - 1 else None)
        return x


class MPNetModel(BackboneEmbedder):
    """The bare encoder as an embedding model, pooled as its sentence-transformers files say
    (all-mpnet-base-v2: mean, normalised); tensors named with ``mpnet.`` or none, ``pooler.*`` unused."""

    packed_modules_mapping = MPNET_PACKED_MODULES
    weight_prefix_aliases = {"mpnet.": "model.", "": "model."}

    def make_backbone(self, config) -> nn.Module:
        return MPNetBackbone(config)


class MPNetForSequenceClassification(PoolingModel):
    """``mpnet.*`` (no pooler) + ``classifier.{dense,out_proj}`` on the first token (``<s>``)."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = MPNET_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.mpnet = MPNetBackbone(config)
        self.classifier = XLMRobertaClassificationHead(config)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.mpnet(batch, attention, rows)


class MPNetForTokenClassification(TokenClassifier):
    packed_modules_mapping = MPNET_PACKED_MODULES
    backbone_name = "mpnet"

    @staticmethod
    def make_backbone(config):
        return MPNetBackbone(config)
