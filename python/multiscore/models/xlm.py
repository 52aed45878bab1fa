"""XLM and FlauBERT encoders (``XLMModel`` / ``XLMForSequenceClassification`` / ``XLMForTokenClassification``,
the same three ``Flaubert*``): FacebookAI/xlm-mlm-*, flaubert/flaubert_*_cased and their fine-tuned classifiers.

BERT-like post-norm layers under their own names (``attentions.N.{q,k,v,out}_lin``, ``layer_norm1``, ``ffns.N.lin1 /
lin2`` with GELU or ReLU, ``layer_norm2``). FlauBERT's ``pre_norm`` layers are refused: transformers' own FlauBERT
fails on them (it indexes its cache object per layer), so there is no reference to match.
Embeddings: the token's plus a learned position (from 0), plus the *token* embedding of each token's segment id
(XLM adds ``embeddings(token_type_ids)``: rows 0 and 1 of the vocabulary), then ``layer_norm_emb``. Language
embeddings are added only for ids given as ``langs``, which requests do not carry: a multilingual config
(``n_langs`` > 1 with ``use_lang_emb``) is refused. The classifier is the sequence summary: ``summary`` on the first
token (its projection straight to the labels), as XLM's default summary config says; other summaries are refused.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier

XLM_PACKED_MODULES = {"q_lin": ("qkv", "q"), "k_lin": ("qkv", "k"), "v_lin": ("qkv", "v")}


class XLMAttention(nn.Module):
    """``attentions.N``: q/k/v fused (``qkv``, biased), ``out_lin``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = FusedLinear(dim, {"q": dim, "k": dim, "v": dim}, bias=True)
        self.out_lin = Linear(dim, dim)

    def forward(self, x: torch.Tensor, attention: BatchAttention) -> torch.Tensor:
        """x [T, dim] -> [T, dim]."""
        T, dim = x.shape
        q, k, v = (t.view(T, self.heads, self.head_dim) for t in self.qkv(x).split(dim, dim=-1))
        return self.out_lin(attention(q, k, v, self.head_dim**-0.5).reshape(T, dim))


class XLMFeedForward(nn.Module):
    def __init__(self, dim: int, gelu: bool) -> None:
        super().__init__()
        self.lin1, self.lin2 = Linear(dim, 4 * dim), Linear(4 * dim, dim)
        self.act = F.gelu if gelu else F.relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class XLMBackbone(nn.Module):
    """``embeddings``, ``position_embeddings``, ``layer_norm_emb``, and per layer ``attentions``, ``layer_norm1``,
    ``ffns``, ``layer_norm2`` (module lists, as the checkpoints name them)."""

    def __init__(self, config) -> None:
        super().__init__()
        if not getattr(config, "is_encoder", True) or getattr(config, "causal", False):
            raise ValueError("XLM as a decoder (is_encoder false, or causal) is not supported: it is served as an encoder")
        if getattr(config, "n_langs", 1) > 1 and getattr(config, "use_lang_emb", True):
            raise ValueError("a multilingual XLM (n_langs > 1 with language embeddings) is not supported: its language "
                             "ids (langs) are not part of a request")
        if getattr(config, "pre_norm", False):
            raise ValueError("FlauBERT with pre_norm is not supported: transformers' own FlauBERT fails on it, so "
                             "there is no reference to match (post-norm FlauBERT and XLM are served)")
        dim, eps = config.emb_dim, config.layer_norm_eps
        self.config = config
        self.embeddings = nn.Embedding(config.n_words, dim)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, dim)
        self.layer_norm_emb = nn.LayerNorm(dim, eps=eps)
        gelu = bool(getattr(config, "gelu_activation", True))
        self.attentions = nn.ModuleList(XLMAttention(dim, config.n_heads) for _ in range(config.n_layers))
        self.ffns = nn.ModuleList(XLMFeedForward(dim, gelu) for _ in range(config.n_layers))
        self.layer_norm1 = nn.ModuleList(nn.LayerNorm(dim, eps=eps) for _ in range(config.n_layers))
        self.layer_norm2 = nn.ModuleList(nn.LayerNorm(dim, eps=eps) for _ in range(config.n_layers))

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, dim] ([T, dim] for None)."""
        limit = self.config.max_position_embeddings
        if max(batch.seq_lens, default=0) > limit:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the {limit} positions of the model")
        x = self.embeddings(batch.input_ids) + self.position_embeddings(batch.positions)  # [T, dim]
        if batch.token_type_ids is not None:
            x = x + self.embeddings(batch.token_type_ids)  # XLM's segment embedding: vocabulary rows 0 / 1
        x = self.layer_norm_emb(x)
        for attn, ffn, norm1, norm2 in zip(self.attentions, self.ffns, self.layer_norm1, self.layer_norm2):
            x = norm1(x + attn(x, attention))
            x = norm2(x + ffn(x))
        return x if keep_rows is None else x.index_select(0, keep_rows)


class XLMModel(BackboneEmbedder):
    """The bare encoder as an embedding model (tensors under ``transformer.`` or no prefix): its first token's
    final state, normalised, unless sentence-transformers files say otherwise."""

    packed_modules_mapping = XLM_PACKED_MODULES
    weight_prefix_aliases = {"transformer.": "model.", "": "model."}

    def make_backbone(self, config) -> nn.Module:
        return XLMBackbone(config)


class XLMForSequenceClassification(PoolingModel):
    """``transformer.*`` + ``sequence_summary.summary`` [num_labels, dim] on the first token."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = XLM_PACKED_MODULES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        summary = (getattr(config, "summary_type", "first"), bool(getattr(config, "summary_use_proj", True)),
                   bool(getattr(config, "summary_proj_to_labels", True)), getattr(config, "summary_activation", None))
        if summary != ("first", True, True, None):
            raise ValueError(f"XLM's sequence summary (summary_type, summary_use_proj, summary_proj_to_labels, "
                             f"summary_activation) = {summary} is not supported: ('first', True, True, None) is")
        self.config = config
        self.transformer = XLMBackbone(config)
        self.sequence_summary = nn.Module()
        self.sequence_summary.summary = nn.Linear(config.emb_dim, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.sequence_summary.summary, config))

    def hidden_states(self, batch, attention, rows):
        return self.transformer(batch, attention, rows)


class XLMForTokenClassification(TokenClassifier):
    packed_modules_mapping = XLM_PACKED_MODULES
    backbone_name = "transformer"

    @staticmethod
    def make_backbone(config):
        return XLMBackbone(config)


# FlauBERT: XLM's classes.
FlaubertModel, FlaubertForSequenceClassification, FlaubertForTokenClassification = (
    XLMModel, XLMForSequenceClassification, XLMForTokenClassification)
