"""ERNIE encoders (``ErnieModel``, ``ErnieForSequenceClassification``, ``ErnieForTokenClassification``:
nghuyong/ernie-3.0-*, ernie-gram and their fine-tuned classifiers). BERT's layers under ``ernie.``,
plus, where ``use_task_id`` is set (ERNIE 3.0), a task-type embedding added to every token: transformers
gives every token task type 0, so the row added is ``task_type_embeddings.weight[0]``."""

from __future__ import annotations

import torch
from torch import nn

from multiscore.models.base import PooledClassifier, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES, BertBackbone, BertEmbeddings, BertModel


class ErnieEmbeddings(BertEmbeddings):
    def __init__(self, config) -> None:
        super().__init__(config)
        use_task_id = getattr(config, "use_task_id", False)
        self.task_type_embeddings = (nn.Embedding(config.task_type_vocab_size, config.hidden_size)
                                     if use_task_id else None)

    def forward(self, input_ids, token_type_ids, positions) -> torch.Tensor:
        """[T] each -> [T, H]."""
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) + self.position_embeddings(positions)
        if self.task_type_embeddings is not None:
            x = x + self.task_type_embeddings.weight[0]  # task type 0 on every token
        return self.LayerNorm(x)


class ErnieBackbone(BertBackbone):
    def __init__(self, config, add_pooler: bool) -> None:
        super().__init__(config, add_pooler)
        self.embeddings = ErnieEmbeddings(config)


class ErnieModel(BertModel):
    """The bare encoder as an embedding model; its tensors are named with ``ernie.`` or none."""

    weight_prefix_aliases = {"ernie.": "model.", "": "model."}
    backbone = ErnieBackbone


class ErnieForSequenceClassification(PooledClassifier):
    """``ernie.*`` (with its tanh pooler) + ``classifier`` on the first token."""

    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "ernie"

    @staticmethod
    def make_backbone(config):
        return ErnieBackbone(config, add_pooler=True)


class ErnieForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "ernie"

    @staticmethod
    def make_backbone(config):
        return ErnieBackbone(config, add_pooler=False)
