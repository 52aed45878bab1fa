"""BART classifiers (``BartForSequenceClassification``): facebook/bart-large-mnli — the default model
of transformers' zero-shot-classification pipeline —, the distilbart-mnli checkpoints and other
fine-tuned BART classifiers. A text pair (premise, hypothesis) is one sequence, ``<s> A </s></s> B </s>``.

An encoder-decoder run as one model over the packed batch: the encoder reads the sequence
(bidirectional), the decoder reads it shifted right by one (``decoder_start_token_id`` first), causal,
and attends to the encoder's states of the same sequence (cross-attention); the class scores come
from the decoder's final state at the sequence's last token (transformers reads the last ``</s>``,
which a tokenized text or pair ends with) through ``classification_head`` (dense, tanh, out_proj).
Each stack: token embeddings (``shared``, times sqrt(d_model) with ``scale_embedding``) plus learned
positions (offset 2), ``layernorm_embedding``, then post-norm layers (attention, residual add,
LayerNorm; ``fc1``-activation-``fc2``, residual add, LayerNorm) with biased projections. Attention runs
within each sequence over chunks of similar-length sequences (sequence_chunks.py): a model that mixes
causal and bidirectional attention does not fit one backend's plan.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import EAGER_ACTIVATIONS, Linear, hf_activation
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel
from multiscore.models.sequence_chunks import attend_in_chunks, sequence_chunks

_POSITION_OFFSET = 2  # BART's learned positions start at row 2 of their table


class BartAttention(nn.Module):
    """``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` (biased); queries scaled by head_dim ** -0.5."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, d_model // heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (Linear(d_model, d_model, bias=True) for _ in range(4))

    def forward(self, x: torch.Tensor, source: torch.Tensor, chunks, causal: bool) -> torch.Tensor:
        """x [T, d] (queries' rows), source [T, d] (keys' and values' rows: x itself, or the encoder's
        states) -> [T, d]."""
        T = x.shape[0]
        q, k, v = (proj(t).view(T, self.heads, self.head_dim) for proj, t in
                   ((self.q_proj, x), (self.k_proj, source), (self.v_proj, source)))
        return self.out_proj(attend_in_chunks(q, k, v, chunks, self.head_dim**-0.5, causal).reshape(T, -1))


class BartLayer(nn.Module):
    """An encoder layer (``self_attn``, ``fc1``/``fc2``), or a decoder layer with ``encoder_attn`` between them."""

    def __init__(self, config, decoder: bool) -> None:
        super().__init__()
        d = config.d_model
        heads = config.decoder_attention_heads if decoder else config.encoder_attention_heads
        ffn = config.decoder_ffn_dim if decoder else config.encoder_ffn_dim
        self.self_attn, self.self_attn_layer_norm = BartAttention(d, heads), nn.LayerNorm(d)
        self.decoder = decoder
        if decoder:
            self.encoder_attn, self.encoder_attn_layer_norm = BartAttention(d, heads), nn.LayerNorm(d)
        self.fc1, self.fc2 = Linear(d, ffn, bias=True), Linear(ffn, d, bias=True)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = EAGER_ACTIVATIONS[hf_activation(config.activation_function, "activation_function")]

    def forward(self, x: torch.Tensor, chunks, encoded: Optional[torch.Tensor]) -> torch.Tensor:
        """x [T, d] -> [T, d]; ``encoded`` [T, d]: the encoder's final states (decoder layers)."""
        x = self.self_attn_layer_norm(x + self.self_attn(x, x, chunks, causal=self.decoder))
        if self.decoder:
            x = self.encoder_attn_layer_norm(x + self.encoder_attn(x, encoded, chunks, causal=False))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


class BartStack(nn.Module):
    """``model.encoder`` or ``model.decoder``: learned positions, ``layernorm_embedding``, the layers."""

    def __init__(self, config, decoder: bool) -> None:
        super().__init__()
        d = config.d_model
        self.embed_positions = nn.Embedding(config.max_position_embeddings + _POSITION_OFFSET, d)
        self.layernorm_embedding = nn.LayerNorm(d)
        count = config.decoder_layers if decoder else config.encoder_layers
        self.layers = nn.ModuleList(BartLayer(config, decoder) for _ in range(count))

    def forward(self, embedded: torch.Tensor, positions: torch.Tensor, chunks,
                encoded: Optional[torch.Tensor] = None) -> torch.Tensor:
        """embedded [T, d] (scaled token embeddings), positions [T] (from 0 in each sequence) -> [T, d]."""
        x = self.layernorm_embedding(embedded + self.embed_positions(positions + _POSITION_OFFSET))
        for layer in self.layers:
            x = layer(x, chunks, encoded)
        return x


class BartModelBody(nn.Module):
    """``model.*``: ``shared`` token embeddings, the encoder and the decoder."""

    def __init__(self, config) -> None:
        super().__init__()
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder, self.decoder = BartStack(config, decoder=False), BartStack(config, decoder=True)


class BartClassificationHead(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = Linear(config.d_model, config.d_model, bias=True)
        self.out_proj = Linear(config.d_model, config.num_labels, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, d] -> logits [N, num_labels]."""
        return self.out_proj(torch.tanh(self.dense(x)))


class BartForSequenceClassification(PoolingModel):
    kind = ModelKind.ENCODER_CLASSIFIER  # the pair is one sequence, seen whole by the encoder: no MIS
    # The encoder's and decoder's token embeddings are ``shared`` (tied); checkpoints may store any of them.
    weight_renames = {"model.encoder.embed_tokens.": "model.shared.", "model.decoder.embed_tokens.": "model.shared."}

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.model = BartModelBody(config)
        self.classification_head = BartClassificationHead(config)
        self.embed_scale = math.sqrt(config.d_model) if getattr(config, "scale_embedding", False) else 1.0
        self.decoder_start = config.decoder_start_token_id
        if self.decoder_start is None:
            raise ValueError("a BART classifier needs decoder_start_token_id in its config")
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.classification_head, config))

    def hidden_states(self, batch, attention, rows):
        """The packed batch -> the decoder's final states at ``rows`` [R, d] ([T, d] for None). The
        attention backend is not used (see the module's docstring)."""
        ids, positions = batch.input_ids, batch.positions  # [T] each
        starts = torch.tensor([layout.start for layout in batch.layouts], device=ids.device)
        chunks = list(sequence_chunks(starts.tolist(), batch.seq_lens, ids.device, align_keys=True))
        encoded = self.model.encoder(self.model.shared(ids) * self.embed_scale, positions, chunks)
        shifted = torch.roll(ids, 1)  # each sequence's tokens one row later, its first row the start token
        shifted[starts] = self.decoder_start
        out = self.model.decoder(self.model.shared(shifted) * self.embed_scale, positions, chunks, encoded)
        return out if rows is None else out.index_select(0, rows)
