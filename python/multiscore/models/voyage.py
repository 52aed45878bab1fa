"""Voyage's open embedder (voyageai/voyage-4-nano; vLLM's ``VoyageQwen3BidirectionalEmbedModel``):
Qwen3's layers with bidirectional attention (every token sees every other, whatever the config's
``is_causal``), then ``linear`` [E, H] (no bias; E = the config's ``num_labels``) on every token's final
state, pooled as its sentence-transformers files say — by mean, normalised, without them.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import PoolingMethod
from multiscore.models.qwen3 import Qwen3Model


class VoyageQwen3BidirectionalEmbedModel(Qwen3Model):
    kind = ModelKind.ENCODER_EMBEDDING

    @classmethod
    def kind_for(cls, hf_config) -> ModelKind:
        return cls.kind  # bidirectional by design (vLLM sets is_causal false for it)

    @classmethod
    def default_pooling(cls, hf_config) -> Optional[str]:
        return PoolingMethod.MEAN.value

    @staticmethod
    def embedding_width(config) -> int:
        """An embedding's length before any sentence-transformers Dense layer: ``linear``'s outputs."""
        return config.num_labels

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        self.linear = nn.Linear(config.hidden_size, config.num_labels, bias=False)

    def hidden_states(self, batch, attention, rows):
        """The body's final states at ``rows``, each through ``linear``: [R, E]."""
        return self.linear(super().hidden_states(batch, attention, rows))
