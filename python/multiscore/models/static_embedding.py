"""Static embeddings (configs/static_embedding.py): each token's row of one table, mean-pooled per text
(sentence-transformers' ``StaticEmbedding``, an ``nn.EmbeddingBag`` in mean mode), normalised where the
checkpoint's modules.json says. No attention: every packed row is a lookup."""

from __future__ import annotations

from typing import Optional

from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import PoolingMethod
from multiscore.models.base import PoolingModel, embedding_pooler


class StaticEmbeddingModel(PoolingModel):
    """``embedding.weight`` [vocab, width] (model2vec's ``embeddings`` loads there too)."""

    kind = ModelKind.ENCODER_EMBEDDING
    weight_renames = {"embeddings": "embedding.weight"}

    @classmethod
    def default_pooling(cls, hf_config) -> Optional[str]:
        return PoolingMethod.MEAN.value

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.pooler = embedding_pooler(pooling, PoolingMethod.MEAN)

    def hidden_states(self, batch, attention, rows):
        """The packed batch -> each token's row [T, width] (at ``rows`` [R, width])."""
        ids = batch.input_ids if rows is None else batch.input_ids.index_select(0, rows)
        return self.embedding(ids)
