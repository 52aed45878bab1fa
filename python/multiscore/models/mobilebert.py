"""MobileBERT (google/mobilebert-uncased and its classifiers): ``MobileBertModel``,
``MobileBertForSequenceClassification``, ``MobileBertForTokenClassification``.

Embeddings: each token's row concatenated with its neighbours' (``trigram_input``: the next token's, its own,
the previous one's, zeros past the sequence's ends) and widened by ``embedding_transformation``, plus
position and token-type rows, then a norm. Each layer narrows its input through bottlenecks
(``bottleneck.input``; q and k from ``bottleneck.attention``, v from the layer's input), attends at
``true_hidden_size``, runs ``num_feedforward_networks`` - 1 small FFNs and the layer's own, and widens back
(``output.bottleneck``), each step dense -> add -> norm. Norms are ``NoNorm`` (x·w + b) or LayerNorms as
``normalization_type`` says. The pooler is the first token, through dense + tanh with ``classifier_activation``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import Linear, hf_activation
from multiscore.models.base import PooledClassifier, TokenClassifier
from multiscore.models.bert import BertModel


class NoNorm(nn.Module):
    """MobileBERT's norm: x · weight + bias (no statistics)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(size)), nn.Parameter(torch.zeros(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.bias, x, self.weight)


def _norm(config, size: int, eps: Optional[float] = None) -> nn.Module:
    """A NoNorm, or a LayerNorm (eps: the config's where transformers passes it, else LayerNorm's own 1e-5)."""
    if config.normalization_type == "no_norm":
        return NoNorm(size)
    return nn.LayerNorm(size, eps=1e-5 if eps is None else eps)


class DenseNorm(nn.Module):
    """``dense`` then ``LayerNorm`` (a NoNorm or a LayerNorm) of it plus a residual, where one is given."""

    def __init__(self, config, n_in: int, n_out: int, config_eps: bool = True) -> None:
        super().__init__()
        self.dense = Linear(n_in, n_out)
        self.LayerNorm = _norm(config, n_out, config.layer_norm_eps if config_eps else None)

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.dense(x)
        return self.LayerNorm(x if residual is None else x + residual)


class MobileBertEmbeddings(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        E, H = config.embedding_size, config.hidden_size
        self.trigram = bool(config.trigram_input)
        self.word_embeddings = nn.Embedding(config.vocab_size, E)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, H)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, H)
        if self.trigram or E != H:
            self.embedding_transformation = Linear(E * (3 if self.trigram else 1), H)
        self.LayerNorm = _norm(config, H)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """[T] each (packed sequences, positions from 0 in each) -> [T, H]."""
        x = self.word_embeddings(input_ids)  # [T, E]
        if self.trigram:
            first = positions == 0  # a sequence's first row: no previous token; the row before it ends a sequence
            last = torch.cat([first[1:], first.new_ones(1)])
            nxt = torch.cat([x[1:], x.new_zeros(1, x.shape[1])]).masked_fill(last[:, None], 0.0)
            prev = torch.cat([x.new_zeros(1, x.shape[1]), x[:-1]]).masked_fill(first[:, None], 0.0)
            x = torch.cat([nxt, x, prev], dim=-1)  # [T, 3E]
        if hasattr(self, "embedding_transformation"):
            x = self.embedding_transformation(x)
        return self.LayerNorm(x + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids))


class MobileBertLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        if not config.use_bottleneck or config.use_bottleneck_attention or not config.key_query_shared_bottleneck:
            raise ValueError("MobileBERT is served with its published bottlenecks (use_bottleneck, "
                             "key_query_shared_bottleneck, not use_bottleneck_attention)")
        H, B, inner = config.hidden_size, config.true_hidden_size, config.intermediate_size
        self.num_heads, self.head_dim = config.num_attention_heads, B // config.num_attention_heads
        self.bottleneck = nn.Module()
        self.bottleneck.input, self.bottleneck.attention = DenseNorm(config, H, B), DenseNorm(config, H, B)
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query, self.attention.self.key = Linear(B, B), Linear(B, B)
        self.attention.self.value = Linear(H, B)
        self.attention.output = DenseNorm(config, B, B)
        act = hf_activation(config.hidden_act)
        self.ffn = nn.ModuleList(_Ffn(config, act) for _ in range(config.num_feedforward_networks - 1))
        self.intermediate = nn.Module()
        self.intermediate.dense = Linear(B, inner)
        self.act = act
        self.output = DenseNorm(config, inner, B, config_eps=False)  # transformers gives this norm no eps
        self.output.bottleneck = DenseNorm(config, B, H)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, H] -> [T, H]."""
        T = x.shape[0]
        narrow, shared = self.bottleneck.input(x), self.bottleneck.attention(x)  # [T, B] each
        q = self.attention.self.query(shared).view(T, self.num_heads, self.head_dim)
        k = self.attention.self.key(shared).view(T, self.num_heads, self.head_dim)
        v = self.attention.self.value(x).view(T, self.num_heads, self.head_dim)
        h = self.attention.output(attention(q, k, v, self.head_dim**-0.5).reshape(T, -1), narrow)
        for ffn in self.ffn:
            h = ffn(h)
        out = self.output(self.intermediate.dense(h, self.act), h)
        return self.output.bottleneck(out, x)


class _Ffn(nn.Module):
    """``ffn.N``: ``intermediate.dense`` (with the activation), ``output`` (dense, add, norm)."""

    def __init__(self, config, act) -> None:
        super().__init__()
        self.intermediate = nn.Module()
        self.intermediate.dense = Linear(config.true_hidden_size, config.intermediate_size)
        self.act = act
        self.output = DenseNorm(config, config.intermediate_size, config.true_hidden_size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.output(self.intermediate.dense(h, self.act), h)


class MobileBertPooler(nn.Module):
    """The first token, through dense + tanh where ``classifier_activation`` says."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size) if config.classifier_activation else None

    def forward(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        return first_token_hidden if self.dense is None else torch.tanh(self.dense(first_token_hidden))


class MobileBertBackbone(nn.Module):
    """``embeddings``, ``encoder.layer.N``, ``pooler``."""

    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__()
        self.config = config
        self.embeddings = MobileBertEmbeddings(config)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(MobileBertLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = MobileBertPooler(config) if add_pooler else None

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        if max(batch.seq_lens, default=0) > self.config.max_position_embeddings:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the "
                             f"{self.config.max_position_embeddings} positions of the model")
        x = self.embeddings(batch.input_ids, batch.token_type_ids, batch.positions)
        for layer in self.encoder.layer:
            x = layer(x, attention)
        return x if keep_rows is None else x.index_select(0, keep_rows)


class MobileBertModel(BertModel):
    weight_prefix_aliases = {"mobilebert.": "model.", "": "model."}
    backbone = MobileBertBackbone


class MobileBertForSequenceClassification(PooledClassifier):
    backbone_name = "mobilebert"
    make_backbone = staticmethod(lambda config: MobileBertBackbone(config, add_pooler=True))


class MobileBertForTokenClassification(TokenClassifier):
    backbone_name = "mobilebert"
    make_backbone = staticmethod(MobileBertBackbone)
