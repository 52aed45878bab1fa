"""EuroBERT encoders (``EuroBertModel``, ``EuroBertForSequenceClassification``,
``EuroBertForTokenClassification``): Llama's block (RMSNorm pre-norm, rotary, SwiGLU, GQA) with
bidirectional attention, and a final norm. Parameter names are Llama's (``model.layers.N...``).

The classifier (``dense``, GELU, ``classifier``) reads what ``classifier_pooling`` says: ``bos``
(the first token), ``mean`` (the tokens' mean), or ``late``, the default: the head on every
token, its logits averaged over the sequence.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMetadata, PoolingMethod, with_hidden
from multiscore.models.base import embedding_pooler
from multiscore.models.decoder import DecoderForEmbedding
from multiscore.models.llama import llama_options  # EuroBERT's block is Llama's, options and all


class LatePooler(Pooler):
    """``late`` pooling: ``classify`` on every row [T, H] -> [T, C], averaged per sequence -> [B, C]
    (token tasks: every row's, as they are)."""

    def __init__(self, classify, config) -> None:
        super().__init__(PoolingMethod.MEAN, ClassifierHead(lambda logits: logits, config))
        self.classify = classify

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        logits = self.classify(hidden)  # [T, C]: MEAN reads every row
        if meta.per_token:
            return with_hidden(self.head(logits, meta.groups), hidden, meta.groups)
        reduce = self.method.reduce
        return with_hidden(self.head(reduce(logits, meta), meta.groups), reduce(hidden, meta), meta.groups)


class EuroBertModel(DecoderForEmbedding):
    """The bare encoder as an embedding model; without sentence-transformers files, the mean of its tokens."""

    kind = ModelKind.ENCODER_EMBEDDING
    options_for = staticmethod(llama_options)

    @classmethod
    def default_pooling(cls, hf_config) -> str:
        return PoolingMethod.MEAN.value

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        self.pooler = embedding_pooler(pooling, PoolingMethod.MEAN)


class EuroBertForSequenceClassification(DecoderForEmbedding):
    kind = ModelKind.ENCODER_CLASSIFIER
    options_for = staticmethod(llama_options)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        mode = getattr(config, "classifier_pooling", "late")
        if mode == "late":
            self.pooler = LatePooler(self.classify, config)
        elif mode in ("bos", "mean"):
            method = PoolingMethod.CLS if mode == "bos" else PoolingMethod.MEAN
            self.pooler = Pooler(method, ClassifierHead(self.classify, config))
        else:
            raise ValueError(f"classifier_pooling {mode!r} is not supported (bos, mean or late)")

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """[N, H] -> logits [N, num_labels] (the pooled rows, or every token for ``late``)."""
        return self.classifier(F.gelu(self.dense(hidden.to(self.dense.weight.dtype))))


class EuroBertForTokenClassification(DecoderForEmbedding):
    """``classifier`` (with its bias) on every token, each seeing the whole sequence."""

    kind = ModelKind.ENCODER_TOKEN_CLASSIFIER
    options_for = staticmethod(llama_options)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))  # token requests: every row
