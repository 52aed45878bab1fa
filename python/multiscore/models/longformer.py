"""Longformer encoders (``LongformerModel``, ``LongformerForSequenceClassification``,
``LongformerForTokenClassification``: allenai/longformer-base-4096 / -large-4096 and their fine-tuned classifiers).

RoBERTa's layers (its embeddings, positions after the padding index, post-norm blocks, classifier head) under
``longformer.``, with Longformer's attention:
- local: token p sees the keys at p - w .. p + w, w = ``attention_window[layer] // 2`` (the torch backend's
  bidirectional window, w + 1);
- global, in the classifier only (transformers gives the first token global attention there unless told otherwise;
  the bare model and the token classifier have none): every token also sees the first token's key, however far,
  and the first token's own output is attention through the separate ``query_global`` / ``key_global`` /
  ``value_global`` projections over its whole sequence.
transformers pads each sequence to a multiple of the window with masked tokens, which changes no real token's
output; sequences are packed unpadded here. With the FlashInfer backend the context stops at the narrowest window
(attention_geometry.context_length_of).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.models.bert import BERT_PACKED_MODULES, BertSelfAttention
from multiscore.models.xlm_roberta import (
    XLMRobertaBackbone,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
)

LONGFORMER_PACKED_MODULES = {**BERT_PACKED_MODULES, "key_global": ("kv_global", "k"), "value_global": ("kv_global", "v")}


@dataclass
class GlobalFirstAttention:
    """The batch's attention, and each sequence's first row [B] (its global token) for the layers to read."""

    attention: BatchAttention
    first_rows: torch.Tensor

    def __call__(self, *args, **kwargs) -> torch.Tensor:
        return self.attention(*args, **kwargs)


class LongformerSelfAttention(BertSelfAttention):
    """``attention.self``: BERT's q/k/v over a sliding window; with ``global_first``, the first token global."""

    def __init__(self, config, layer_id: int, global_first: bool) -> None:
        super().__init__(config)
        windows = config.attention_window
        window = windows[layer_id] if isinstance(windows, (list, tuple)) else windows
        self.window = window // 2 + 1  # keys less than this far: p - w .. p + w
        self.global_first = global_first
        if global_first:
            h = config.hidden_size
            self.query_global = Linear(h, h)
            self.kv_global = FusedLinear(h, {"k": h, "v": h}, bias=True)

    def forward(self, x: torch.Tensor, attention, rows=None) -> torch.Tensor:
        """[T, H] -> [T, H] (heads concatenated), or [R, H] at ``rows``."""
        T, H = x.shape
        if not self.global_first:
            q, k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.qkv(x).split(H, dim=-1))
            return attention(q, k, v, self.scale, window=self.window, rows=rows).reshape(-1, H)
        first = attention.first_rows  # [B]
        glob = self._global_rows(x, attention, first)  # [B, H]
        if rows is not None and torch.equal(rows, first):  # the classifier's last layer reads only the first tokens
            return glob
        q, k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.qkv(x).split(H, dim=-1))
        out = attention(q, k, v, self.scale, window=self.window, first_key_global=True).reshape(T, H)
        out = out.index_copy(0, first, glob)
        return out if rows is None else out.index_select(0, rows)

    def _global_rows(self, x: torch.Tensor, attention, first: torch.Tensor) -> torch.Tensor:
        """The first tokens' outputs [B, H]: their ``query_global`` against every token's ``key_global`` /
        ``value_global`` in its sequence."""
        T, H = x.shape
        k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.kv_global(x).split(H, dim=-1))
        q = x.new_zeros(T, self.num_heads, self.head_dim)  # only the first rows are read
        q[first] = self.query_global(x.index_select(0, first)).view(-1, self.num_heads, self.head_dim)
        return attention(q, k, v, self.scale, rows=first).reshape(-1, H)


class LongformerBackbone(XLMRobertaBackbone):
    """``longformer.*``: RoBERTa's backbone with Longformer's self-attention in every layer."""

    global_first = False

    def __init__(self, config, add_pooler: bool = False) -> None:
        super().__init__(config, add_pooler=False)
        for i, layer in enumerate(self.encoder.layer):
            layer.attention.self = LongformerSelfAttention(config, i, self.global_first)

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        if self.global_first:
            attention = GlobalFirstAttention(attention, batch.pooling.seq_starts)
        return super().forward(batch, attention, keep_rows)


class GlobalFirstLongformerBackbone(LongformerBackbone):
    global_first = True


class LongformerModel(XLMRobertaModel):
    """The bare encoder as an embedding model (no global attention, as transformers' bare model)."""

    backbone = LongformerBackbone
    weight_prefix_aliases = {"longformer.": "model.", **XLMRobertaModel.weight_prefix_aliases}
    packed_modules_mapping = LONGFORMER_PACKED_MODULES


class LongformerForSequenceClassification(XLMRobertaForSequenceClassification):
    """``longformer.*`` + RoBERTa's ``classifier`` on ``<s>``, which attends globally."""

    weight_prefix_aliases = {"longformer.": "roberta."}
    packed_modules_mapping = LONGFORMER_PACKED_MODULES

    @staticmethod
    def make_backbone(config) -> nn.Module:
        return GlobalFirstLongformerBackbone(config)


class LongformerForTokenClassification(XLMRobertaForTokenClassification):
    weight_prefix_aliases = {"longformer.": "roberta."}
    packed_modules_mapping = LONGFORMER_PACKED_MODULES

    @staticmethod
    def make_backbone(config) -> nn.Module:
        return LongformerBackbone(config)
