"""XLNet encoders (``XLNetModel``, ``XLNetForSequenceClassification``, ``XLNetForTokenClassification``:
xlnet-base-cased / -large-cased and their fine-tuned classifiers), as transformers runs them on a whole input
(``attn_type: bi``, no memory: every token sees every token).

Post-norm layers of relative attention and a feed-forward. Attention scores between token i and token j are
((q_i + r_w_bias)·k_j + (q_i + r_r_bias)·R_{i-j} + (q_i + r_s_bias)·seg_embed[s_ij]) / sqrt(d_head), where R_d is the
``r`` projection of the sinusoid of the distance d (clamped to ±``clamp_len`` when set) and s_ij is 1 where i's and
j's segments differ (the tokenizer's types: 0, 1, and 2 for the final ``<cls>``). The position and segment terms
depend on the query, so they are computed per chunk of sequences (sequence_chunks.py) and added to SDPA's scores;
the attention backends are not used. The projections are stored as [d_model, heads, d_head] tensors (``q``, ``k``,
``v``, ``o``, ``r``) and multiplied as they are.

The classifier reads the last token (``<cls>``: XLNet's tokenizer ends every input with it) through
``sequence_summary.summary`` (tanh) and ``logits_proj``. The bare model is pooled on that token too by default.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier
from multiscore.models.sequence_chunks import sequence_chunks


def _check_config(config) -> None:
    if getattr(config, "attn_type", "bi") != "bi":
        raise ValueError(f"XLNet with attn_type {config.attn_type!r} is not supported: 'bi' (every token sees every "
                         "token, as transformers scores a whole input) is")
    if getattr(config, "bi_data", False):
        raise ValueError("XLNet with bi_data (a pre-training option that splits the batch in two directions) is not "
                         "supported")


class RelativeKeys:
    """A forward's position keys per chunk length: R_d for d = L-1 .. -(L-1) through each layer's ``r``."""

    def __init__(self, d_model: int, clamp_len: int) -> None:
        self.inv_freq = 1 / torch.pow(10000, torch.arange(0, d_model, 2.0) / d_model)  # [d_model / 2]
        self.clamp_len = clamp_len
        self._sinusoids: dict[int, torch.Tensor] = {}

    def sinusoid(self, length: int, like: torch.Tensor) -> torch.Tensor:
        """[2L - 1, d_model]: sin | cos of each distance, from L - 1 down to -(L - 1)."""
        if length not in self._sinusoids:
            distance = torch.arange(length - 1, -length, -1.0)
            if self.clamp_len > 0:
                distance = distance.clamp(-self.clamp_len, self.clamp_len)
            angles = distance[:, None] * self.inv_freq
            self._sinusoids[length] = torch.cat([angles.sin(), angles.cos()], -1).to(like.device, like.dtype)
        return self._sinusoids[length]


class XLNetRelativeAttention(nn.Module):
    """``rel_attn``: relative attention, then ``o``, the residual and ``layer_norm``."""

    def __init__(self, config) -> None:
        super().__init__()
        h, n, d = config.d_model, config.n_head, config.d_head
        self.n_head, self.d_head, self.scale = n, d, d**-0.5
        for name in ("q", "k", "v", "o", "r"):
            setattr(self, name, nn.Parameter(torch.empty(h, n, d)))
        for name in ("r_r_bias", "r_s_bias", "r_w_bias"):
            setattr(self, name, nn.Parameter(torch.empty(n, d)))
        self.seg_embed = nn.Parameter(torch.empty(2, n, d))  # [same segment, other segment]
        self.layer_norm = nn.LayerNorm(h, eps=config.layer_norm_eps)

    def _project(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """[N, d_model] through a [d_model, heads, d_head] projection -> [N, heads, d_head]."""
        return (x @ weight.flatten(1)).view(-1, self.n_head, self.d_head)

    def forward(self, x: torch.Tensor, chunks, segments: torch.Tensor, keys: RelativeKeys, keep_rows=None) -> torch.Tensor:
        """[T, d_model] -> [T, d_model] ([R, d_model] at ``keep_rows``); ``segments`` [T] the token types."""
        q, k, v = (self._project(x, w) for w in (self.q, self.k, self.v))  # [T, n, d]
        out = torch.empty_like(q)
        for index, valid in chunks:  # [b, L]
            b, L = index.shape
            qc, kc, vc = (t[index].transpose(1, 2) for t in (q, k, v))  # [b, n, L, d]
            rel = self._project(keys.sinusoid(L, x), self.r)  # [2L - 1, n, d]: R_d, d = L-1 .. -(L-1)
            position = (qc + self.r_r_bias[:, None]) @ rel.permute(1, 2, 0)  # [b, n, L, 2L - 1]
            i = torch.arange(L, device=x.device)
            slot = (L - 1 - i[:, None] + i[None, :]).expand(b, self.n_head, L, L)  # distance i - j's column
            position = position.gather(-1, slot)  # [b, n, L, L]
            seg = segments[index]  # [b, L]
            other = (seg[:, :, None] != seg[:, None, :]).long()[:, None].expand(b, self.n_head, L, L)
            segment = ((qc + self.r_s_bias[:, None]) @ self.seg_embed.permute(1, 2, 0)).gather(-1, other)  # [b, n, L, L]
            bias = ((position + segment) * self.scale).masked_fill(~valid[:, None, None, :], float("-inf"))
            o = F.scaled_dot_product_attention(qc + self.r_w_bias[:, None], kc, vc, attn_mask=bias, scale=self.scale)
            out[index[valid]] = o.transpose(1, 2)[valid]
        out = out.flatten(1)  # [T, n·d]
        if keep_rows is not None:  # every row was a key; only these go on
            out, x = out.index_select(0, keep_rows), x.index_select(0, keep_rows)
        return self.layer_norm(out @ self.o.flatten(1).t() + x)


class XLNetFeedForward(nn.Module):
    """``ff``: layer_norm(layer_2(act(layer_1(x))) + x)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.layer_1 = Linear(config.d_model, config.d_inner)
        self.layer_2 = Linear(config.d_inner, config.d_model)
        self.act = hf_activation(config.ff_activation, "ff_activation")
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(self.layer_2(self.layer_1(x, self.act)) + x)


class XLNetLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.rel_attn = XLNetRelativeAttention(config)
        self.ff = XLNetFeedForward(config)

    def forward(self, x, chunks, segments, keys, keep_rows=None) -> torch.Tensor:
        return self.ff(self.rel_attn(x, chunks, segments, keys, keep_rows))


class XLNetBackbone(nn.Module):
    """transformers' ``XLNetModel``: ``word_embedding`` and ``layer.N`` (its ``mask_emb`` is for pre-training)."""

    def __init__(self, config) -> None:
        super().__init__()
        _check_config(config)
        self.config = config
        self.word_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.layer = nn.ModuleList(XLNetLayer(config) for _ in range(config.n_layer))

    def forward(self, batch, attention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, d_model] ([T, d_model] for None)."""
        x = self.word_embedding(batch.input_ids)  # [T, d_model]
        chunks = list(sequence_chunks([layout.start for layout in batch.layouts], batch.seq_lens, x.device,
                                      align_keys=True))
        keys = RelativeKeys(self.config.d_model, getattr(self.config, "clamp_len", -1) or -1)
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            x = layer(x, chunks, batch.token_type_ids, keys, keep_rows if i == last else None)
        return x


class XLNetModel(BackboneEmbedder):
    """The bare encoder as an embedding model: by default the last token (``<cls>``), normalised."""

    default_method = PoolingMethod.LAST
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    def make_backbone(self, config) -> nn.Module:
        return XLNetBackbone(config)


class XLNetForSequenceClassification(PoolingModel):
    """``transformer.*`` + ``sequence_summary.summary`` (its activation) + ``logits_proj`` on the last token."""

    kind = ModelKind.ENCODER_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        summary = (getattr(config, "summary_type", "last"), bool(getattr(config, "summary_use_proj", True)),
                   bool(getattr(config, "summary_proj_to_labels", False)))
        if summary != ("last", True, False):
            raise ValueError(f"XLNet's sequence summary (summary_type, summary_use_proj, summary_proj_to_labels) = "
                             f"{summary} is not supported: ('last', True, False) is")
        activation = getattr(config, "summary_activation", None)
        if activation not in (None, "tanh"):
            raise ValueError(f"XLNet's summary_activation {activation!r} is not supported: 'tanh' or none is")
        self.config = config
        self.transformer = XLNetBackbone(config)
        self.sequence_summary = nn.Module()
        self.sequence_summary.summary = nn.Linear(config.d_model, config.d_model)
        self.summary_activation = torch.tanh if activation == "tanh" else None
        self.logits_proj = nn.Linear(config.d_model, config.num_labels)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.classify, config))

    def classify(self, last_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, d_model] -> logits [B, num_labels]."""
        summary = self.sequence_summary.summary(last_token_hidden)
        if self.summary_activation is not None:
            summary = self.summary_activation(summary)
        return self.logits_proj(summary)

    def hidden_states(self, batch, attention, rows):
        return self.transformer(batch, attention, rows)


class XLNetForTokenClassification(TokenClassifier):
    backbone_name = "transformer"

    @staticmethod
    def make_backbone(config) -> nn.Module:
        return XLNetBackbone(config)
