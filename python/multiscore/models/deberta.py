"""DeBERTa (v1) encoders (``DebertaModel``, ``DebertaForSequenceClassification``,
``DebertaForTokenClassification``): microsoft/deberta-large-mnli and deberta-base-mnli (NLI, zero-shot),
DeBERTa (v1) fine-tunes. DeBERTa-v2's layers, embeddings, pooler and disentangled attention
(deberta_v2.py), with v1's attention projections:

- ``in_proj`` [3H, H] without bias, its rows per head [q | k | v] (put q-of-every-head first as they
  load), then ``q_bias`` and ``v_bias`` added (keys take none);
- the relative terms' own projections, ``pos_proj`` (c2p, no bias) and ``pos_q_proj`` (p2c, biased);
- relative distances clamped to ±``max_relative_positions`` (no log buckets), the encoder's
  ``rel_embeddings`` used as they are (no LayerNorm). transformers slices those rows to the
  sequence's own span first; the index it gathers is the same row, clamped the same way.

``talking_head`` (a DeBERTa option no published checkpoint sets) is refused.
"""

from __future__ import annotations

import torch
from torch import nn

from multiscore.layers.linear import Linear, grouped_to_blocked
from multiscore.models.deberta_v2 import (
    DebertaV2Backbone,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DebertaV2Model,
    _terms,
)
from multiscore.models.deberta_v2_attention import disentangled_attention


class DebertaSelfAttention(nn.Module):
    """``attention.self`` of a DeBERTa (v1) layer."""

    def __init__(self, config) -> None:
        super().__init__()
        if getattr(config, "talking_head", False):
            raise ValueError("DeBERTa with talking_head is not supported")
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.in_proj = Linear(h, 3 * h, bias=False)
        self.in_proj.load_row_order = grouped_to_blocked(self.num_heads, [self.head_dim] * 3)  # -> [q | k | v]
        self.q_bias = nn.Parameter(torch.zeros(h))
        self.v_bias = nn.Parameter(torch.zeros(h))
        self.terms = _terms(config)
        if "c2p" in self.terms:
            self.pos_proj = Linear(h, h, bias=False)
        if "p2c" in self.terms:
            self.pos_q_proj = Linear(h, h, bias=True)
        # Every listed type counts in the scale, as transformers computes it.
        self.scale = (self.head_dim * (1 + len(getattr(config, "pos_att_type", None) or []))) ** -0.5

    def forward(self, x: torch.Tensor, rel, chunks, positions) -> torch.Tensor:
        """x [T, H] -> [T, H] (heads concatenated, before the output projection); rel [2·span, H]."""
        T, H = x.shape
        q, k, v = self.in_proj(x).split(H, dim=-1)
        heads = lambda t: t.reshape(t.shape[0], self.num_heads, self.head_dim)  # noqa: E731
        pos_q = heads(self.pos_q_proj(rel)) if "p2c" in self.terms else None
        pos_k = heads(self.pos_proj(rel)) if "c2p" in self.terms else None
        return disentangled_attention(heads(q + self.q_bias), heads(k), heads(v + self.v_bias), pos_q, pos_k, chunks,
                                      positions, self.scale).reshape(T, H)


class DebertaBackbone(DebertaV2Backbone):
    def __init__(self, config) -> None:
        super().__init__(config)
        for layer in self.encoder.layer:
            layer.attention.self = DebertaSelfAttention(config)


class DebertaModel(DebertaV2Model):
    backbone = DebertaBackbone


class DebertaForSequenceClassification(DebertaV2ForSequenceClassification):
    backbone = DebertaBackbone


class DebertaForTokenClassification(DebertaV2ForTokenClassification):
    backbone = DebertaBackbone
