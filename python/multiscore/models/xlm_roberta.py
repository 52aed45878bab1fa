"""XLM-RoBERTa encoders (``XLMRobertaModel``, ``XLMRobertaForSequenceClassification``).

The encoder is BERT's (same parameter names, post-norm layers, one token type); two things
differ: position ids start after the padding index (token t of a sequence has position
``pad_token_id + 1 + t``), and the classifier head is ``classifier.dense`` -> tanh ->
``classifier.out_proj`` on the first token (``<s>``), with no pooler.

Jina's flash implementation of the same layers (jina-reranker-v2-base-multilingual: a config.json
without model_type, its tensors named ``emb_ln``, ``encoder.layers.N.mixer.Wqkv`` ...) loads too.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES, BertBackbone, BertModel

# jinaai/xlm-roberta-flash-implementation's tensor names (jina-reranker-v2-base-multilingual: the same
# post-norm XLM-R layers, q/k/v fused in ``mixer.Wqkv``) -> ours; none occurs in transformers' names.
FLASH_IMPLEMENTATION_NAMES = {
    "emb_ln.": "embeddings.LayerNorm.", "encoder.layers.": "encoder.layer.", "mixer.Wqkv.": "attention.self.qkv.",
    "mixer.out_proj.": "attention.output.dense.", "norm1.": "attention.output.LayerNorm.",
    "mlp.fc1.": "intermediate.dense.", "mlp.fc2.": "output.dense.", "norm2.": "output.LayerNorm.",
}


class XLMRobertaBackbone(BertBackbone):
    @staticmethod
    def first_position(config) -> int:
        # fairseq numbers positions after the padding index, which position_embeddings reserves.
        return config.pad_token_id + 1


class XLMRobertaModel(BertModel):
    """The bare encoder as an embedding model (BertModel's, with XLM-R's positions)."""

    backbone = XLMRobertaBackbone
    weight_renames = FLASH_IMPLEMENTATION_NAMES


class XLMRobertaClassificationHead(nn.Module):
    """``classifier``: out_proj(activation(dense(first token))); tanh for XLM-R, GELU for ELECTRA."""

    def __init__(self, config, activation=torch.tanh) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)
        self.activation = activation

    def forward(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.activation(self.dense(first_token_hidden)))  # [B, num_labels]


class XLMRobertaForSequenceClassification(PoolingModel):
    """``roberta.*`` (encoder, no pooler) + ``classifier.{dense,out_proj}`` on ``<s>``."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = FLASH_IMPLEMENTATION_NAMES  # jina-reranker-v2-base-multilingual

    @staticmethod
    def make_backbone(config) -> nn.Module:
        return XLMRobertaBackbone(config, add_pooler=False)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.roberta = self.make_backbone(config)
        self.classifier = XLMRobertaClassificationHead(config)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.roberta(batch, attention, rows)


class XLMRobertaForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "roberta"

    @staticmethod
    def make_backbone(config):
        return XLMRobertaBackbone(config, add_pooler=False)
