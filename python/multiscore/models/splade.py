"""A BERT masked LM served as SPLADE (naver/splade-v3, naver/splade-cocondenser-*,
opensearch-project's neural sparse encoders, prithivida/Splade_PP_en_v1): the encoder, then the
masked-LM head on every token, pooled by ``layers/splade_pooler.py`` into one vocabulary-sized
sparse vector per text. Checkpoints: ``bert.*`` + ``cls.predictions.*`` (transform, bias; the
decoder shares the word embeddings unless ``tie_word_embeddings`` is false).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import Linear, hf_activation
from multiscore.layers.splade_pooler import SpladePooler
from multiscore.models.base import PoolingModel
from multiscore.models.bert import BERT_PACKED_MODULES, BertBackbone


class PredictionTransform(nn.Module):
    """``cls.predictions.transform``: LayerNorm(act(dense(x)))."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = hf_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x, self.act))


class MaskedLMPredictions(nn.Module):
    """``cls.predictions``: hidden [r, H] -> vocabulary logits [r, V]."""

    def __init__(self, config) -> None:
        super().__init__()
        self.transform = PredictionTransform(config)
        self.bias = nn.Parameter(torch.empty(config.vocab_size))
        tied = getattr(config, "tie_word_embeddings", True)
        self.decoder = None if tied else nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        weight = word_embeddings if self.decoder is None else self.decoder.weight  # [V, H]
        return torch.nn.functional.linear(self.transform(hidden), weight, self.bias)


class MaskedLMHead(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.predictions = MaskedLMPredictions(config)


class BertForMaskedLM(PoolingModel):
    kind = ModelKind.ENCODER_SPARSE_EMBEDDING
    packed_modules_mapping = BERT_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.bert = BertBackbone(config, add_pooler=False)
        self.cls = MaskedLMHead(config)
        strategy = pooling.splade_strategy if pooling is not None else None
        self.pooler = SpladePooler(self.mlm_logits, strategy or "max")  # max: SPLADE's own, without a SpladePooling

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final hidden states [r, H] -> masked-LM logits [r, V]."""
        return self.cls.predictions(hidden, self.bert.embeddings.word_embeddings.weight)

    def hidden_states(self, batch, attention, rows):
        return self.bert(batch, attention, rows)
