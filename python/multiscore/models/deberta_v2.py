"""DeBERTa-v2 / v3 encoders (``DebertaV2Model``, ``DebertaV2ForSequenceClassification``: DeBERTa-v3
NLI cross-encoders, reward models). BERT's post-norm layers under ``deberta.``, with disentangled
relative attention (deberta_v2_attention.py): the encoder's ``rel_embeddings`` (LayerNorm-ed when
``norm_rel_ebd`` says so) are projected per layer by the key/query projections (``share_att_key``)
or by ``pos_key_proj`` / ``pos_query_proj``. Embeddings: words, absolute positions only with
``position_biased_input``, token types only with ``type_vocab_size`` > 0, ``embed_proj`` when
narrower. The classifier is ``classifier(act(pooler.dense(first token)))``. DeBERTa-v2-xlarge's
convolution layer (``conv_kernel_size``) is refused."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import EAGER_ACTIVATIONS, FusedLinear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import BackboneEmbedder, PoolingModel, TokenClassifier
from multiscore.models.bert import BertIntermediate, DenseResidualNorm
from multiscore.models.deberta_v2_attention import RelativePositions, disentangled_attention
from multiscore.models.sequence_chunks import sequence_chunks

DEBERTA_PACKED_MODULES = {"query_proj": ("qkv", "q"), "key_proj": ("qkv", "k"), "value_proj": ("qkv", "v")}


def _listed_terms(config) -> list[str]:
    types = getattr(config, "pos_att_type", None) or []
    return [t for t in (types.split("|") if isinstance(types, str) else types) if t in ("c2p", "p2c")]


def _terms(config) -> list[str]:
    """The relative terms computed: none without ``relative_attention``."""
    return _listed_terms(config) if getattr(config, "relative_attention", False) else []


def _span(config) -> tuple[int, int, int]:
    """-> (position_buckets, max_relative_positions, span): relative distances index [0, 2·span)."""
    max_relative = getattr(config, "max_relative_positions", -1)
    if max_relative < 1:
        max_relative = config.max_position_embeddings
    buckets = getattr(config, "position_buckets", -1)
    return buckets, max_relative, buckets if buckets > 0 else max_relative


class DisentangledSelfAttention(nn.Module):
    """``attention.self``: q/k/v fused (``qkv``), and the relative terms' own projections when not shared."""

    def __init__(self, config) -> None:
        super().__init__()
        h = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = h // self.num_heads
        self.qkv = FusedLinear(h, {"q": h, "k": h, "v": h}, bias=True)
        self.terms = _terms(config)
        self.share_att_key = getattr(config, "share_att_key", False)
        if not self.share_att_key:
            if "c2p" in self.terms:
                self.pos_key_proj = nn.Linear(h, h)
            if "p2c" in self.terms:
                self.pos_query_proj = nn.Linear(h, h)
        # Every listed term counts, even with relative_attention off: transformers scales so.
        self.scale = (self.head_dim * (1 + len(_listed_terms(config)))) ** -0.5

    def relative_projections(self, rel: torch.Tensor):
        """rel [2·span, H] -> (Qr, Kr), each [2·span, heads, D] or None when its term is off."""
        heads = lambda x: x.view(x.shape[0], self.num_heads, self.head_dim)  # noqa: E731
        if self.share_att_key:
            qr, kr, _ = self.qkv(rel).split(rel.shape[1], dim=-1)
        else:
            qr = self.pos_query_proj(rel) if "p2c" in self.terms else None
            kr = self.pos_key_proj(rel) if "c2p" in self.terms else None
        return (heads(qr) if "p2c" in self.terms else None), (heads(kr) if "c2p" in self.terms else None)

    def forward(self, x: torch.Tensor, rel: Optional[torch.Tensor], chunks, positions) -> torch.Tensor:
        """x [T, H] -> [T, H] (heads concatenated, before the output projection)."""
        T, H = x.shape
        q, k, v = (t.view(T, self.num_heads, self.head_dim) for t in self.qkv(x).split(H, dim=-1))
        pos_q, pos_k = self.relative_projections(rel) if self.terms else (None, None)
        return disentangled_attention(q, k, v, pos_q, pos_k, chunks, positions, self.scale).reshape(T, H)


class DebertaV2Layer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = DisentangledSelfAttention(config)
        self.attention.output = DenseResidualNorm(config.hidden_size, config)
        self.intermediate = BertIntermediate(config)
        self.output = DenseResidualNorm(config.intermediate_size, config)

    def forward(self, x, rel, chunks, positions, keep_rows=None) -> torch.Tensor:
        out = self.attention.self(x, rel, chunks, positions)
        if keep_rows is not None:  # every row was a key; only these go on
            out, x = out.index_select(0, keep_rows), x.index_select(0, keep_rows)
        x = self.attention.output(out, x)
        return self.output(self.intermediate(x), x)


class DebertaV2Backbone(nn.Module):
    """``embeddings.*`` and ``encoder.{layer.N, rel_embeddings, LayerNorm}``."""

    def __init__(self, config) -> None:
        super().__init__()
        if getattr(config, "conv_kernel_size", 0) > 0:
            raise ValueError("DeBERTa-v2 with a convolution layer (conv_kernel_size > 0) is not supported")
        self.config = config
        size = getattr(config, "embedding_size", None) or config.hidden_size
        e = self.embeddings = nn.Module()
        e.word_embeddings = nn.Embedding(config.vocab_size, size)
        e.position_embeddings = (nn.Embedding(config.max_position_embeddings, size)
                                 if getattr(config, "position_biased_input", True) else None)
        e.token_type_embeddings = nn.Embedding(config.type_vocab_size, size) if config.type_vocab_size > 0 else None
        e.embed_proj = nn.Linear(size, config.hidden_size, bias=False) if size != config.hidden_size else None
        e.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(DebertaV2Layer(config) for _ in range(config.num_hidden_layers))
        buckets, max_relative, span = _span(config)
        self.relative = bool(_terms(config))
        if self.relative:
            self.encoder.rel_embeddings = nn.Embedding(2 * span, config.hidden_size)
        norm_rel = [s.strip() for s in str(getattr(config, "norm_rel_ebd", "none")).lower().split("|")]
        self.encoder.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if "layer_norm" in norm_rel else None
        self.bucketing = (buckets, max_relative, span)  # RelativePositions(...), one per forward

    def embed(self, batch) -> torch.Tensor:
        e = self.embeddings
        x = e.word_embeddings(batch.input_ids)  # [T, E]
        if e.position_embeddings is not None:
            x = x + e.position_embeddings(batch.positions)
        if e.token_type_embeddings is not None:
            x = x + e.token_type_embeddings(batch.token_type_ids)
        if e.embed_proj is not None:
            x = e.embed_proj(x)
        return e.LayerNorm(x)  # [T, H]

    def forward(self, batch, attention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None). The
        attention backend is not used: the relative terms are computed here."""
        if self.embeddings.position_embeddings is not None and max(batch.seq_lens, default=0) > self.config.max_position_embeddings:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the "
                             f"{self.config.max_position_embeddings} positions of the model")
        x = self.embed(batch)
        rel = None
        if self.relative:
            rel = self.encoder.rel_embeddings.weight  # [2·span, H]
            if self.encoder.LayerNorm is not None:
                rel = self.encoder.LayerNorm(rel)
        starts = [layout.start for layout in batch.layouts]
        chunks = list(sequence_chunks(starts, batch.seq_lens, x.device))
        positions = RelativePositions(*self.bucketing)  # its index per chunk length, for every layer
        layers = self.encoder.layer
        for i, layer in enumerate(layers):
            x = layer(x, rel, chunks, positions, keep_rows if i == len(layers) - 1 else None)
        return x


class DebertaV2Model(BackboneEmbedder):
    """The bare encoder as an embedding model; its tensors are named with ``deberta.`` or none."""

    packed_modules_mapping = DEBERTA_PACKED_MODULES
    weight_prefix_aliases = {"deberta.": "model.", "": "model."}
    backbone = DebertaV2Backbone  # DeBERTa (v1): its own (deberta.py)

    def make_backbone(self, config) -> nn.Module:
        return self.backbone(config)


class DebertaV2ForSequenceClassification(PoolingModel):
    """``deberta.*`` + ``pooler.dense`` -> ``pooler_hidden_act`` -> ``classifier`` on the first token."""

    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = DEBERTA_PACKED_MODULES
    weight_renames = {"pooler.dense.": "pooler_dense."}  # ``pooler`` is every model's Pooler here
    backbone = DebertaV2Backbone

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.deberta = self.backbone(config)
        size = getattr(config, "pooler_hidden_size", None) or config.hidden_size
        self.pooler_dense = nn.Linear(size, size)
        act = getattr(config, "pooler_hidden_act", "gelu")
        self.pooler_act = torch.tanh if act == "tanh" else EAGER_ACTIVATIONS[hf_activation(act, "pooler_hidden_act")]
        self.classifier = nn.Linear(size, config.num_labels)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classify, config))

    def classify(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, H] -> logits [B, num_labels]."""
        return self.classifier(self.pooler_act(self.pooler_dense(first_token_hidden)))

    def hidden_states(self, batch, attention, rows):
        return self.deberta(batch, attention, rows)


class DebertaV2ForTokenClassification(TokenClassifier):
    packed_modules_mapping = DEBERTA_PACKED_MODULES
    backbone_name = "deberta"
    backbone = DebertaV2Backbone

    def make_backbone(self, config):
        return self.backbone(config)
