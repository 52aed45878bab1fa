"""BERT encoders (``BertModel``, ``BertForSequenceClassification``), inference only.

Parameter names follow Hugging Face (``embeddings.*``, ``encoder.layer.N.attention.self.query``
...) so checkpoints load by name; query/key/value are fused into one matmul (``qkv``). The
forward takes a packed batch: the tokens of all sequences concatenated, ``[T]``; attention is
bidirectional within each sequence, through the same attention backend as the decoders. Dense
layers (projections, MLP, LayerNorm) run on the packed ``[T, H]`` rows, so padding costs nothing
there. Dropout is omitted (inference only).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import FusedLinear, Linear, hf_activation
from multiscore.models.base import BackboneEmbedder, PooledClassifier, TokenClassifier

# Rows per MLP block (see BertLayer.forward). E1 (all-MiniLM-L6-v2, 512 sentences, 2-core AMX Xeon),
# blocks of 512 / 1024 / 2048 / 4096 / all rows: bf16 424-427 / 359-364 / 348-355 / 344-346 / 359-363 ms;
# fp32 1224-1290 / 1215-1269 / 1209-1253 / 1219 / 1286-1296 ms.
_MLP_ROWS = 4096

# Checkpoints store query/key/value apart; our ``qkv`` fuses them.
BERT_PACKED_MODULES = {"query": ("qkv", "q"), "key": ("qkv", "k"), "value": ("qkv", "v")}


class BertEmbeddings(nn.Module):
    def __init__(self, config, size: Optional[int] = None) -> None:
        """``size``: the embeddings' width when it differs from the hidden size (ELECTRA's ``embedding_size``)."""
        super().__init__()
        size = size or config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, size)
        self.LayerNorm = nn.LayerNorm(size, eps=config.layer_norm_eps)

    def forward(self, input_ids, token_type_ids, positions) -> torch.Tensor:
        """[T] each -> [T, E]."""
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(positions))


class BertSelfAttention(nn.Module):
    """``attention.self``: the q/k/v projections (one fused matmul) and bidirectional attention."""

    def __init__(self, config) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scale = self.head_dim**-0.5
        h = config.hidden_size
        self.qkv = FusedLinear(h, {"q": h, "k": h, "v": h}, bias=True)

    def forward(self, x: torch.Tensor, attention: BatchAttention, rows=None) -> torch.Tensor:
        """[T, H] -> [T, H] (heads concatenated, before the output projection), or [R, H] at ``rows``."""
        T, H = x.shape
        q, k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.qkv(x).split(H, dim=-1))  # views of [T, 3H]
        out = attention(q, k, v, self.scale, rows=rows)
        return out.reshape(out.shape[0], H)


class DenseResidualNorm(nn.Module):
    """``attention.output`` and ``output``: LayerNorm(dense(x) + residual) (BERT is post-norm)."""

    def __init__(self, in_size: int, config) -> None:
        super().__init__()
        self.dense = Linear(in_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = DenseResidualNorm(config.hidden_size, config)

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        out = self.self(x, attention, keep_rows)
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        return self.output(out, x)


class BertIntermediate(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.act = hf_activation(config.hidden_act)  # run in the MLP's first product

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x, self.act)  # [T, I]


class BertLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = DenseResidualNorm(config.intermediate_size, config)

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        x = self.attention(x, attention, keep_rows)
        if x.shape[0] <= _MLP_ROWS:
            return self.output(self.intermediate(x), x)
        # Row blocks keep the [rows, intermediate] activation in cache: on CPU the MLP over a large
        # batch is bound by memory traffic, not arithmetic.
        for rows in x.split(_MLP_ROWS):  # views: each block is overwritten after it is read
            rows.copy_(self.output(self.intermediate(rows), rows))
        return x


class BertEncoder(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [R, H]: the last layer runs its output projections and MLP on ``keep_rows`` only."""
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            x = layer(x, attention, keep_rows if i == last else None)
        return x


class BertPooler(nn.Module):
    """``pooler``: tanh(dense(first token)), what the classifier reads."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(first_token_hidden))  # [B, H]


class BertBackbone(nn.Module):
    """Hugging Face's ``BertModel`` layout: ``embeddings.*``, ``encoder.layer.N.*`` and, where the
    classifier reads it, ``pooler.*`` (an embedding model never does, and leaves it out)."""

    @staticmethod
    def first_position(config) -> int:
        """Position id of each sequence's first token: BERT counts 0..n-1."""
        return 0

    def __init__(self, config, add_pooler: bool) -> None:
        super().__init__()
        self.config = config
        self.position_offset = self.first_position(config)
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type {config.position_embedding_type!r} is not supported")
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooler else None

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        max_positions = self.config.max_position_embeddings - self.position_offset
        if max(batch.seq_lens, default=0) > max_positions:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the {max_positions} positions of the model")
        return self.encoder(self.embed(batch), attention, keep_rows)

    def embed(self, batch) -> torch.Tensor:
        """The packed batch -> the first layer's input [T, H]."""
        return self.embeddings(batch.input_ids, batch.token_type_ids, batch.positions + self.position_offset)


class BertModel(BackboneEmbedder):
    """The bare encoder as an embedding model, pooled as its sentence-transformers files say
    (default: [CLS], normalised). Checkpoints name its tensors without our ``model.`` prefix, or
    with a classifier's ``bert.`` / ``roberta.``; their ``pooler.*`` goes unused."""

    packed_modules_mapping = BERT_PACKED_MODULES
    weight_prefix_aliases = {"bert.": "model.", "roberta.": "model.", "": "model."}
    backbone = BertBackbone

    def make_backbone(self, config) -> nn.Module:
        return self.backbone(config, add_pooler=False)


class BertForSequenceClassification(PooledClassifier):
    """``bert.*`` (encoder with pooler) + ``classifier``: logits = classifier(pooler([CLS]))."""

    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "bert"

    @staticmethod
    def make_backbone(config):
        return BertBackbone(config, add_pooler=True)


class BertForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "bert"

    @staticmethod
    def make_backbone(config):
        return BertBackbone(config, add_pooler=False)
