"""RoFormer (junnyu/roformer_chinese_base / small, roformer_v2 fine-tunes, RoFormer-Sim, and the classifiers on
them): ``RoFormerModel``, ``RoFormerForSequenceClassification``, ``RoFormerForTokenClassification``.

BERT's layers under BERT's names, with no position embeddings: q and k rotate by position (the sinusoidal
table over (2i, 2i + 1) pairs, served as the half rotary with each head's q/k rows put evens-then-odds as they
load); embeddings of ``embedding_size`` (word + token type, LayerNorm), widened by ``embeddings_project`` where
that differs from the hidden size. The classifier is RoBERTa's (dense, ``hidden_act``, out_proj) on [CLS].
``rotary_value`` (v rotating too) is refused with the reason.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import Linear
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.bert import BERT_PACKED_MODULES, BertEncoder, BertModel
from multiscore.models.base import TokenClassifier
from multiscore.models.decoder import pairs_first
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead, XLMRobertaForSequenceClassification


class RotatingAttention:
    """``attention`` with q and k rotated first (cos / sin [T, 1, head_dim / 2], at the batch's positions)."""

    def __init__(self, attention: BatchAttention, cos: torch.Tensor, sin: torch.Tensor) -> None:
        self.attention, self.cos, self.sin = attention, cos, sin

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, **kwargs) -> torch.Tensor:
        return self.attention(apply_rotary(q, self.cos, self.sin), apply_rotary(k, self.cos, self.sin), v, scale, **kwargs)


class RoFormerEmbeddings(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        E = config.embedding_size
        self.word_embeddings = nn.Embedding(config.vocab_size, E)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, E)
        self.LayerNorm = nn.LayerNorm(E, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """[T] each -> [T, E]."""
        return self.LayerNorm(self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids))


class RoFormerBackbone(nn.Module):
    """``embeddings``, ``embeddings_project`` (where the widths differ), ``encoder.layer.N`` (BERT's)."""

    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__()
        if getattr(config, "rotary_value", False):
            raise ValueError("RoFormer with rotary_value (v rotating too) is not supported")
        self.config = config
        self.embeddings = RoFormerEmbeddings(config)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = Linear(config.embedding_size, config.hidden_size)
        self.encoder = BertEncoder(config)
        heads, head_dim = config.num_attention_heads, config.hidden_size // config.num_attention_heads
        for layer in self.encoder.layer:
            order = pairs_first(heads, head_dim)
            layer.attention.self.qkv.shard_load_orders = {"q": order, "k": order}
        self.rotary_emb = RotaryEmbedding(config, head_dim)
        self.pooler = None

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        x = self.embeddings(batch.input_ids, batch.token_type_ids)
        if hasattr(self, "embeddings_project"):
            x = self.embeddings_project(x)
        cos, sin = self.rotary_emb.cos_sin(batch.positions, x.dtype)
        return self.encoder(x, RotatingAttention(attention, cos, sin), keep_rows)


class RoFormerModel(BertModel):
    weight_prefix_aliases = {"roformer.": "model.", "": "model."}
    backbone = RoFormerBackbone


class RoFormerForSequenceClassification(XLMRobertaForSequenceClassification):
    """``roformer.*`` + ``classifier.{dense,out_proj}`` on [CLS], with the config's activation between them."""

    weight_prefix_aliases = {"roformer.": "roberta."}
    make_backbone = staticmethod(RoFormerBackbone)

    def __init__(self, config, pooling=None) -> None:
        super().__init__(config, pooling)
        act = {"gelu": F.gelu, "relu": F.relu, "tanh": torch.tanh}.get(config.hidden_act)
        if act is None:
            raise ValueError(f"RoFormer's classifier with hidden_act {config.hidden_act!r} is not supported (gelu, relu, tanh)")
        self.classifier = XLMRobertaClassificationHead(config, activation=act)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))


class RoFormerForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    backbone_name = "roformer"
    make_backbone = staticmethod(RoFormerBackbone)
