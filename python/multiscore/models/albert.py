"""ALBERT encoders (``AlbertModel``, ``AlbertForSequenceClassification``, ``AlbertForTokenClassification``):
albert-base/large-v2 fine-tunes, sentence-transformers' paraphrase-albert-small-v2.

BERT's post-norm layer, with two differences: the embeddings are ``embedding_size`` wide (128) and
widened by ``encoder.embedding_hidden_mapping_in`` (ELECTRA's ``embeddings_project``), and one
layer's weights serve every layer (``albert_layer_groups.0.albert_layers.0``, run
``num_hidden_layers`` times). The classifier reads BERT's tanh pooler over the first token. Published
ALBERTs have one group of one layer; other groupings are refused.

RemBERT (``RemBertModel``, ``RemBertForSequenceClassification``, ``RemBertForTokenClassification``): the same
widened embeddings before layers of their own (RemBertBackbone).
"""

from __future__ import annotations

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.models.base import PooledClassifier, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES, BertLayer, BertModel, BertPooler
from multiscore.models.electra import ElectraBackbone

# ALBERT's names -> BERT's (ours), wherever they occur (with ``albert.`` or no prefix), in order.
ALBERT_NAMES = {
    "encoder.embedding_hidden_mapping_in.": "embeddings_project.",
    "encoder.albert_layer_groups.0.albert_layers.0.": "encoder.layer.0.",
    "attention.query.": "attention.self.query.", "attention.key.": "attention.self.key.",
    "attention.value.": "attention.self.value.", "attention.dense.": "attention.output.dense.",
    "attention.LayerNorm.": "attention.output.LayerNorm.", ".ffn.": ".intermediate.dense.",
    ".ffn_output.": ".output.dense.", ".full_layer_layer_norm.": ".output.LayerNorm.",
    "pooler.": "pooler.dense.",
}


class SharedLayerEncoder(nn.Module):
    """``encoder.layer.0``: one BERT layer run ``num_hidden_layers`` times."""

    def __init__(self, config) -> None:
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config)])
        self.repeats = config.num_hidden_layers

    def forward(self, x: torch.Tensor, attention: BatchAttention, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [R, H]: the last pass runs its output projections and MLP on ``keep_rows`` only."""
        for i in range(self.repeats):
            x = self.layer[0](x, attention, keep_rows if i == self.repeats - 1 else None)
        return x


class AlbertBackbone(ElectraBackbone):
    def __init__(self, config, add_pooler: bool = False) -> None:
        if (getattr(config, "num_hidden_groups", 1), getattr(config, "inner_group_num", 1)) != (1, 1):
            raise ValueError(f"ALBERT with num_hidden_groups={config.num_hidden_groups} and inner_group_num="
                             f"{config.inner_group_num} is not supported (published ALBERTs have one group of one layer)")
        super().__init__(config)
        self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)  # there even when as wide
        self.encoder = SharedLayerEncoder(config)
        self.pooler = BertPooler(config) if add_pooler else None


class AlbertModel(BertModel):
    """The bare encoder as an embedding model (its tensors under ``albert.`` or no prefix)."""

    weight_prefix_aliases = {"albert.": "model.", "": "model."}
    weight_renames = ALBERT_NAMES
    backbone = AlbertBackbone


class AlbertForSequenceClassification(PooledClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = ALBERT_NAMES
    backbone_name = "albert"

    @staticmethod
    def make_backbone(config):
        return AlbertBackbone(config, add_pooler=True)


class AlbertForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = ALBERT_NAMES
    backbone_name = "albert"

    @staticmethod
    def make_backbone(config):
        return AlbertBackbone(config)


class RemBertBackbone(ElectraBackbone):
    """RemBERT (google/rembert): BERT's post-norm layers, each its own, behind embeddings ``input_embedding_size``
    wide widened by ``encoder.embedding_hidden_mapping_in`` (as ALBERT's); BERT's tanh pooler for the classifier."""

    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__(config)
        self.embeddings_project = nn.Linear(config.embedding_size, config.hidden_size)  # there even when as wide
        self.pooler = BertPooler(config) if add_pooler else None


REMBERT_NAMES = {"encoder.embedding_hidden_mapping_in.": "embeddings_project."}  # BERT's names otherwise


class _RemBert:
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.embedding_size = hf_config.input_embedding_size  # ELECTRA's name for the embeddings' width


class RemBertModel(_RemBert, BertModel):
    """The bare encoder as an embedding model (its tensors under ``rembert.`` or no prefix)."""

    weight_prefix_aliases = {"rembert.": "model.", "": "model."}
    weight_renames = REMBERT_NAMES
    backbone = RemBertBackbone


class RemBertForSequenceClassification(_RemBert, PooledClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = REMBERT_NAMES
    backbone_name = "rembert"

    @staticmethod
    def make_backbone(config):
        return RemBertBackbone(config, add_pooler=True)


class RemBertForTokenClassification(_RemBert, TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = REMBERT_NAMES
    backbone_name = "rembert"

    @staticmethod
    def make_backbone(config):
        return RemBertBackbone(config)
