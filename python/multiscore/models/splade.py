"""Masked LMs served as SPLADE (naver/splade-v3, naver/splade-cocondenser-*, naver/splade_v2_distil,
opensearch-project's neural sparse encoders, prithivida/Splade_PP_en_v1; RoBERTa, XLM-R and GTE
ones): the encoder, then the masked-LM head on every token, pooled by ``layers/splade_pooler.py``
into one vocabulary-sized sparse vector per text. Checkpoints: ``bert.*`` + ``cls.predictions.*``
(transform, bias); ``distilbert.*`` + ``vocab_transform``, ``vocab_layer_norm``,
``vocab_projector.bias``; ``roberta.*`` or ``gte.*`` (``new.*``) + ``lm_head.{dense,layer_norm,bias}``.
The vocabulary projection shares the word embeddings unless ``tie_word_embeddings`` is false.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import Linear, hf_activation
from multiscore.layers.splade_pooler import SpladePooler
from multiscore.models.base import PoolingModel
from multiscore.models.bert import BERT_PACKED_MODULES, BertBackbone
from multiscore.models.distilbert import _EPS, DISTILBERT_PACKED_MODULES, DistilBertBackbone
from multiscore.models.gte import GteBackbone
from multiscore.models.xlm_roberta import XLMRobertaBackbone

_GELU = ("gelu", "none")  # RoBERTa's and GTE's LM heads use exact GELU whatever the body's activation


class PredictionTransform(nn.Module):
    """``cls.predictions.transform``: LayerNorm(act(dense(x)))."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = hf_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x, self.act))


class VocabProjection(nn.Module):
    """x [r, H] -> logits [r, V]: ``bias``, and the word embeddings as the weight (tied, the usual
    case) or its own ``weight``."""

    def __init__(self, config, hidden_size: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.empty(config.vocab_size))
        tied = getattr(config, "tie_word_embeddings", True)
        self.weight = None if tied else nn.Parameter(torch.empty(config.vocab_size, hidden_size))

    def forward(self, x: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(x, word_embeddings if self.weight is None else self.weight, self.bias)


class MaskedLMPredictions(nn.Module):
    """``cls.predictions``: hidden [r, H] -> vocabulary logits [r, V]: the word embeddings and
    ``cls.predictions.bias`` when tied; an untied checkpoint has its own ``decoder`` (weight and
    bias, which transformers then keeps apart from ``cls.predictions.bias`` and uses)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.transform = PredictionTransform(config)
        self.bias = nn.Parameter(torch.empty(config.vocab_size))
        tied = getattr(config, "tie_word_embeddings", True)
        self.decoder = None if tied else nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        if self.decoder is not None:
            return self.decoder(self.transform(hidden))
        return F.linear(self.transform(hidden), word_embeddings, self.bias)


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
        self.pooler = SpladePooler(self.mlm_logits, pooling)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final hidden states [r, H] -> masked-LM logits [r, V]."""
        return self.cls.predictions(hidden, self.bert.embeddings.word_embeddings.weight)

    def hidden_states(self, batch, attention, rows):
        return self.bert(batch, attention, rows)


# vLLM's name for the same model, which its users set with --hf-overrides (here
# --json-model-override-args '{"architectures": ["BertSpladeSparseEmbeddingModel"]}').
BertSpladeSparseEmbeddingModel = BertForMaskedLM


class DistilBertForMaskedLM(PoolingModel):
    kind = ModelKind.ENCODER_SPARSE_EMBEDDING
    packed_modules_mapping = DISTILBERT_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.distilbert = DistilBertBackbone(config)
        self.vocab_transform = Linear(config.dim, config.dim)
        self.act = hf_activation(config.activation, "activation")
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=_EPS)
        self.vocab_projector = VocabProjection(config, config.dim)
        self.pooler = SpladePooler(self.mlm_logits, pooling)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final hidden states [r, dim] -> masked-LM logits [r, V]."""
        x = self.vocab_layer_norm(self.vocab_transform(hidden, self.act))
        return self.vocab_projector(x, self.distilbert.embeddings.word_embeddings.weight)

    def hidden_states(self, batch, attention, rows):
        return self.distilbert(batch, attention, rows)


class RobertaLMHead(nn.Module):
    """``lm_head``: ``layer_norm(gelu(dense(x)))``, projected on the vocabulary (the word embeddings,
    or ``decoder.weight`` when untied) plus ``bias``."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.projection = VocabProjection(config, config.hidden_size)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return self.projection(self.layer_norm(self.dense(hidden, _GELU)), word_embeddings)


# The checkpoint's names for the projection's bias (saved once, as lm_head.bias, or also as its
# decoder's, which transformers ties to it) and weight -> ours.
_LM_HEAD_NAMES = {"lm_head.decoder.bias": "lm_head.projection.bias", "lm_head.bias": "lm_head.projection.bias",
                  "lm_head.decoder.weight": "lm_head.projection.weight"}


class XLMRobertaForMaskedLM(PoolingModel):
    kind = ModelKind.ENCODER_SPARSE_EMBEDDING
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = _LM_HEAD_NAMES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.roberta = XLMRobertaBackbone(config, add_pooler=False)
        self.lm_head = RobertaLMHead(config)
        self.pooler = SpladePooler(self.mlm_logits, pooling)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final hidden states [r, H] -> masked-LM logits [r, V]."""
        return self.lm_head(hidden, self.roberta.embeddings.word_embeddings.weight)

    def hidden_states(self, batch, attention, rows):
        return self.roberta(batch, attention, rows)


class RobertaForMaskedLM(XLMRobertaForMaskedLM):
    pass


class CamembertForMaskedLM(XLMRobertaForMaskedLM):
    pass


class GteForMaskedLM(PoolingModel):
    """``gte.*`` (``new.*`` in the original layout) + ``lm_head`` (the original names its norm ``norm``)."""

    kind = ModelKind.ENCODER_SPARSE_EMBEDDING
    weight_prefix_aliases = {"new.": "gte."}
    weight_renames = {"lm_head.norm.": "lm_head.layer_norm.", **_LM_HEAD_NAMES}

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.gte = GteBackbone(config, add_pooler=False)
        self.lm_head = RobertaLMHead(config)
        self.pooler = SpladePooler(self.mlm_logits, pooling)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden, self.gte.embeddings.word_embeddings.weight)

    def hidden_states(self, batch, attention, rows):
        return self.gte(batch, attention, rows)


NewForMaskedLM = GteForMaskedLM  # the original remote code's name (model_type new)
