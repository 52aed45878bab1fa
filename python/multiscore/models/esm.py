"""ESM protein language models (``EsmModel``, ``EsmForSequenceClassification``, ``EsmForTokenClassification``):
facebook/esm2_t6_8M ... t48_15B (rotary) and esm1b (learned positions), and their fine-tuned protein
classifiers and per-residue taggers. Inputs are amino-acid sequences (ESM's character tokenizer).

Pre-norm BERT-style layers: ``attention.LayerNorm`` before self-attention (biased q/k/v, rotary on q
and k with ``position_embedding_type: rotary``), ``attention.output.dense`` added to the input;
``LayerNorm`` before the GELU MLP (``intermediate.dense``, ``output.dense``) added to its input; after
the last layer ``encoder.emb_layer_norm_after``. Embeddings: the token's, zeroed for ``<mask>`` and scaled
by (1 − 0.15·0.8) / (1 − the sequence's share of masks) with ``token_dropout`` (ESM-2's: 0.88 for a
sequence without masks), plus learned positions from ``pad_token_id`` + 1 with ``absolute``, and
``embeddings.layer_norm`` with ``emb_layer_norm_before`` (ESM-1b). The classifier is RoBERTa's head on
``<cls>``; a bare ``EsmModel`` pools by mean (the usual protein embedding) unless sentence-transformers
files say otherwise.
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
from multiscore.layers.rotary import RotaryEmbedding, apply_rotary
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier
from multiscore.models.bert import BERT_PACKED_MODULES
from multiscore.models.xlm_roberta import XLMRobertaClassificationHead

_MASK_RATIO_TRAIN = 0.15 * 0.8  # the share of masked tokens every ESM model was trained with
# The layers' LayerNorms as ESM checkpoints name them (transformers writes them so too) -> ours.
ESM_NAMES = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}


class EsmSelfAttention(nn.Module):
    """``attention.self``: q/k/v fused (``qkv``), rotary on q and k where the model rotates."""

    def __init__(self, config) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads, self.head_dim = config.num_attention_heads, h // config.num_attention_heads
        self.qkv = FusedLinear(h, {"q": h, "k": h, "v": h}, bias=True)

    def forward(self, x: torch.Tensor, attention: BatchAttention, rotary) -> torch.Tensor:
        """x [T, H] -> [T, H] (heads concatenated, before the output projection); rotary: (cos, sin) or None."""
        T, H = x.shape
        q, k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.qkv(x).split(H, dim=-1))
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        return attention(q, k, v, self.head_dim**-0.5).reshape(T, H)


class EsmLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        self.attention = nn.Module()
        self.attention.self = EsmSelfAttention(config)
        self.attention.output = nn.Module()
        self.attention.output.dense = Linear(h, h)
        self.attention.LayerNorm = nn.LayerNorm(h, eps=eps)
        self.intermediate, self.output = nn.Module(), nn.Module()
        self.intermediate.dense = Linear(h, config.intermediate_size)
        self.output.dense = Linear(config.intermediate_size, h)
        self.LayerNorm = nn.LayerNorm(h, eps=eps)

    def forward(self, x: torch.Tensor, attention: BatchAttention, rotary, keep_rows=None) -> torch.Tensor:
        """[T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        out = self.attention.self(self.attention.LayerNorm(x), attention, rotary)
        if keep_rows is not None:
            out, x = out.index_select(0, keep_rows), x.index_select(0, keep_rows)
        x = x + self.attention.output.dense(out)
        return x + self.output.dense(F.gelu(self.intermediate.dense(self.LayerNorm(x))))


class EsmBackbone(nn.Module):
    """``embeddings.*``, ``encoder.layer.N.*`` and ``encoder.emb_layer_norm_after``."""

    def __init__(self, config) -> None:
        super().__init__()
        kind = getattr(config, "position_embedding_type", "absolute")
        if kind not in ("rotary", "absolute"):
            raise ValueError(f"ESM with position_embedding_type {kind!r} is not supported (rotary or absolute)")
        h = config.hidden_size
        self.config = config
        e = self.embeddings = nn.Module()
        e.word_embeddings = nn.Embedding(config.vocab_size, h)
        e.position_embeddings = nn.Embedding(config.max_position_embeddings, h) if kind == "absolute" else None
        e.layer_norm = nn.LayerNorm(h, eps=config.layer_norm_eps) if getattr(config, "emb_layer_norm_before", False) else None
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(EsmLayer(config) for _ in range(config.num_hidden_layers))
        self.encoder.emb_layer_norm_after = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.rotary_emb = RotaryEmbedding(config, h // config.num_attention_heads) if kind == "rotary" else None
        self.token_dropout = bool(getattr(config, "token_dropout", False))

    def embed(self, batch) -> torch.Tensor:
        """The packed batch -> the first layer's input [T, H]."""
        ids = batch.input_ids
        x = self.embeddings.word_embeddings(ids)  # [T, H]
        if self.token_dropout:
            masked = ids == self.config.mask_token_id  # [T]
            x = x.masked_fill(masked[:, None], 0.0)
            lens = torch.tensor(batch.seq_lens, device=ids.device)
            seq_of_row = torch.repeat_interleave(torch.arange(len(batch.seq_lens), device=ids.device), lens)  # [T]
            observed = torch.zeros(len(batch.seq_lens), device=ids.device).index_add_(0, seq_of_row, masked.float()) / lens
            x = (x * (1 - _MASK_RATIO_TRAIN) / (1 - observed)[seq_of_row, None]).to(x.dtype)
        if self.embeddings.position_embeddings is not None:  # positions from pad_token_id + 1, as fairseq counts
            x = x + self.embeddings.position_embeddings(batch.positions + self.config.pad_token_id + 1)
        return x if self.embeddings.layer_norm is None else self.embeddings.layer_norm(x)

    def forward(self, batch, attention: BatchAttention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        limit = self.config.max_position_embeddings - (self.config.pad_token_id + 1 if self.rotary_emb is None else 0)
        if max(batch.seq_lens, default=0) > limit:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the {limit} positions of the model")
        x = self.embed(batch)
        rotary = None if self.rotary_emb is None else self.rotary_emb.cos_sin(batch.positions, x.dtype)
        layers = self.encoder.layer
        for i, layer in enumerate(layers):
            x = layer(x, attention, rotary, keep_rows if i == len(layers) - 1 else None)
        return self.encoder.emb_layer_norm_after(x)


class EsmModel(BackboneEmbedder):
    """The bare encoder as an embedding model (tensors under ``esm.`` or no prefix): the mean of its tokens'
    final states, normalised, unless sentence-transformers files say otherwise."""

    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = ESM_NAMES
    weight_prefix_aliases = {"esm.": "model.", "": "model."}
    default_method = PoolingMethod.MEAN

    def make_backbone(self, config) -> nn.Module:
        return EsmBackbone(config)


class EsmForSequenceClassification(PoolingModel):
    """``esm.*`` + ``classifier.{dense, out_proj}`` (tanh between them) on ``<cls>``."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = ESM_NAMES

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.esm = EsmBackbone(config)
        self.classifier = XLMRobertaClassificationHead(config)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classifier, config))

    def hidden_states(self, batch, attention, rows):
        return self.esm(batch, attention, rows)


class EsmForTokenClassification(TokenClassifier):
    packed_modules_mapping = BERT_PACKED_MODULES
    weight_renames = ESM_NAMES
    backbone_name = "esm"

    @staticmethod
    def make_backbone(config):
        return EsmBackbone(config)
