"""BigBird encoders (``BigBirdModel``, ``BigBirdForSequenceClassification``, ``BigBirdForTokenClassification``:
google/bigbird-roberta-base / -large and their fine-tuned classifiers).

Its block-sparse attention (global, sliding and random key blocks) is what transformers runs only on sequences longer
than (5 + 2 · ``num_random_blocks``) · ``block_size`` tokens (704 for the published configs); up to there it runs
BERT's full attention. So BigBird is served as BERT's layers (under ``bert.``), with the context stopping there
(attention_geometry.dense_attention_limit): exact up to it, refused past it. Its embeddings may be scaled by
sqrt(hidden) (``rescale_embeddings``); its classifier reads the first token through ``dense``, the config's
``hidden_act`` and ``out_proj``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import EAGER_ACTIVATIONS, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES, BertBackbone, BertEmbeddings, BertModel
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead


class BigBirdEmbeddings(BertEmbeddings):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.word_scale = config.hidden_size**0.5 if getattr(config, "rescale_embeddings", False) else None

    def forward(self, input_ids, token_type_ids, positions) -> torch.Tensor:
        """[T] each -> [T, H]: the token's embedding (scaled where the config says) plus its type's and position's."""
        words = self.word_embeddings(input_ids)
        if self.word_scale is not None:
            words = words * self.word_scale
        return self.LayerNorm(words + self.token_type_embeddings(token_type_ids) + self.position_embeddings(positions))


class BigBirdBackbone(BertBackbone):
    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__(config, add_pooler=False)
        self.embeddings = BigBirdEmbeddings(config)


class BigBirdModel(BertModel):
    """The bare encoder as an embedding model ([CLS], normalised, unless sentence-transformers files say otherwise)."""

    backbone = BigBirdBackbone


class BigBirdForSequenceClassification(PoolingModel):
    """``bert.*`` + ``classifier.{dense, out_proj}`` (the config's activation between them) on the first token."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = BERT_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.bert = BigBirdBackbone(config)
        activation = EAGER_ACTIVATIONS[hf_activation(config.hidden_act, "hidden_act")]
        self.classifier = XLMRobertaClassificationHead(config, activation=activation)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.bert(batch, attention, rows)


class BigBirdForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "bert"

    @staticmethod
    def make_backbone(config) -> nn.Module:
        return BigBirdBackbone(config)
