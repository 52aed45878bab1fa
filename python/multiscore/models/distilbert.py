"""DistilBERT encoders (``DistilBertModel``, ``DistilBertForSequenceClassification``): BERT's
post-norm layers under DistilBERT's names (``transformer.layer.N.attention.{q,k,v,out}_lin``,
``sa_layer_norm``, ``ffn.lin1/lin2``, ``output_layer_norm``), no token types and no pooler; the
classifier is ``classifier(relu(pre_classifier(first token)))``. Its sizes are ``dim``,
``hidden_dim``, ``n_heads``, ``n_layers``."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier
from multiscore.models.bert import BertSelfAttention

_EPS = 1e-12  # DistilBERT's LayerNorms
DISTILBERT_PACKED_MODULES = {"q_lin": ("qkv", "q"), "k_lin": ("qkv", "k"), "v_lin": ("qkv", "v")}


class DistilBertEmbeddings(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=_EPS)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """[T] each -> [T, dim]."""
        return self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(positions))


class DistilBertAttention(BertSelfAttention):
    """BERT's fused q/k/v and attention (its config maps hidden_size/num_attention_heads to
    dim/n_heads), plus ``out_lin``, which DistilBERT keeps beside them."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.out_lin = Linear(config.dim, config.dim)


class DistilBertFFN(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.lin1 = Linear(config.dim, config.hidden_dim)
        self.lin2 = Linear(config.hidden_dim, config.dim)
        self.act = hf_activation(config.activation, "activation")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.lin1(x, self.act))


class DistilBertBlock(nn.Module):
    """``transformer.layer.N``: post-norm attention, then post-norm FFN."""

    def __init__(self, config) -> None:
        super().__init__()
        self.attention = DistilBertAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=_EPS)
        self.ffn = DistilBertFFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=_EPS)

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        out = self.attention(x, attention, keep_rows)  # every row is a key; only keep_rows go on
        if keep_rows is not None:
            x = x.index_select(0, keep_rows)
        x = self.sa_layer_norm(self.attention.out_lin(out) + x)
        return self.output_layer_norm(self.ffn(x) + x)


class DistilBertBackbone(nn.Module):
    """``embeddings.*`` and ``transformer.layer.N.*``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.embeddings = DistilBertEmbeddings(config)
        self.transformer = nn.Module()
        self.transformer.layer = nn.ModuleList(DistilBertBlock(config) for _ in range(config.n_layers))

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, dim] ([T, dim] for None)."""
        if max(batch.seq_lens, default=0) > self.config.max_position_embeddings:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the "
                             f"{self.config.max_position_embeddings} positions of the model")
        x = self.embeddings(batch.input_ids, batch.positions)
        layers = self.transformer.layer
        for i, layer in enumerate(layers):
            x = layer(x, attention, keep_rows if i == len(layers) - 1 else None)
        return x


class DistilBertModel(BackboneEmbedder):
    """The bare encoder as an embedding model; its tensors are named with ``distilbert.`` or none."""

    packed_modules_mapping = DISTILBERT_PACKED_MODULES
    weight_prefix_aliases = {"distilbert.": "model.", "": "model."}

    def make_backbone(self, config) -> nn.Module:
        return DistilBertBackbone(config)


class DistilBertForSequenceClassification(PoolingModel):
    """``distilbert.*`` + ``pre_classifier`` -> ReLU -> ``classifier`` on the first token."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = DISTILBERT_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.distilbert = DistilBertBackbone(config)
        self.pre_classifier = nn.Linear(config.dim, config.dim)
        self.classifier = nn.Linear(config.dim, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classify, config))

    def classify(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, dim] -> logits [B, num_labels]."""
        return self.classifier(torch.relu(self.pre_classifier(first_token_hidden)))

    def hidden_states(self, batch, attention, rows):
        return self.distilbert(batch, attention, rows)


class DistilBertForTokenClassification(TokenClassifier):
    packed_modules_mapping = DISTILBERT_PACKED_MODULES
    backbone_name = "distilbert"

    @staticmethod
    def make_backbone(config):
        return DistilBertBackbone(config)
