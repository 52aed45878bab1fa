"""NVIDIA's bidirectional Llama (remote code, model_type ``llama_bidirec``; its config.json is read
natively, configs/checkpoint_layouts.py): ``LlamaBidirectionalModel`` (llama-embed-nemotron-8b,
llama-nemotron-embed-1b-v2) and ``LlamaBidirectionalForSequenceClassification``
(llama-nemotron-rerank-1b-v2). Llama's block and names, every token seeing every other; the config's
``pooling`` (``avg``, ``cls``, ``last``) picks what is pooled, and the classifier's ``score`` (no
bias) reads it, divided by the config's ``temperature``."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import embedding_pooler
from multiscore.models.decoder import DecoderForEmbedding
from multiscore.models.llama import llama_options

_POOLING = {"avg": PoolingMethod.MEAN, "cls": PoolingMethod.CLS, "last": PoolingMethod.LAST}


def pooling_of(config) -> PoolingMethod:
    pooling = getattr(config, "pooling", "avg")
    if pooling not in _POOLING:
        raise ValueError(f"pooling {pooling!r} is not supported (one of {sorted(_POOLING)})")
    return _POOLING[pooling]


class LlamaBidirectionalModel(DecoderForEmbedding):
    """The embedder: pooled as its sentence-transformers files say, else as the config's ``pooling``; normalised."""

    kind = ModelKind.ENCODER_EMBEDDING
    options_for = staticmethod(llama_options)

    @classmethod
    def default_pooling(cls, hf_config) -> str:
        return pooling_of(hf_config).value

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        self.pooler = embedding_pooler(pooling, pooling_of(config))


class LlamaBidirectionalForSequenceClassification(DecoderForEmbedding):
    kind = ModelKind.ENCODER_CLASSIFIER
    options_for = staticmethod(llama_options)

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.temperature = float(getattr(config, "temperature", 1.0) or 1.0)
        self.pooler = Pooler(pooling_of(config), ClassifierHead(self.classify, config))

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """[B, H] -> logits [B, num_labels]."""
        return self.score(pooled.to(self.score.weight.dtype)) / self.temperature
