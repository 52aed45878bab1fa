"""ELECTRA encoders (``ElectraModel``, ``ElectraForSequenceClassification``: the ms-marco-electra
cross-encoders). BERT's layers under ``electra.``; the embeddings may be narrower than the hidden
size (``embedding_size``), then ``embeddings_project`` widens them; no pooler; the classifier is
XLM-R's head with GELU instead of tanh."""

from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES, BertBackbone, BertEmbeddings, BertModel
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead


class ElectraBackbone(BertBackbone):
    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__(config, add_pooler=False)
        size = getattr(config, "embedding_size", None) or config.hidden_size
        self.embeddings = BertEmbeddings(config, size)
        self.embeddings_project = nn.Linear(size, config.hidden_size) if size != config.hidden_size else None

    def embed(self, batch):
        hidden = super().embed(batch)  # [T, E]
        return hidden if self.embeddings_project is None else self.embeddings_project(hidden)  # [T, H]


class ElectraModel(BertModel):
    """The bare discriminator as an embedding model; its tensors are named with ``electra.`` or none."""

    weight_prefix_aliases = {"electra.": "model.", "": "model."}
    backbone = ElectraBackbone


class ElectraForSequenceClassification(PoolingModel):
    """``electra.*`` + ``classifier.{dense,out_proj}`` (GELU between them) on the first token."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = BERT_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.electra = ElectraBackbone(config)
        self.classifier = XLMRobertaClassificationHead(config, activation=F.gelu)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.electra(batch, attention, rows)


class ElectraForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "electra"

    @staticmethod
    def make_backbone(config):
        return ElectraBackbone(config)
