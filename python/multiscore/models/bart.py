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
causal and bidirectional attention does not fit one backend's plan. The class scores are read, as transformers
reads them, at the sequence's last ``eos_token_id`` (its last token where it has none).

The same heads of BART's kin: MVP (``MvpForSequenceClassification``, BART's layers; its prompts, ``use_prompt``,
refused), PLBart (``PLBartForSequenceClassification``: BART's layers; the decoder starts from the sequence's last
token, its language id, as transformers shifts PLBart's and mBART's inputs) and mBART (``MBartForSequenceClassification``:
pre-norm layers, a final ``layer_norm`` in each stack, the same start).
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
    """An encoder layer (``self_attn``, ``fc1``/``fc2``), or a decoder layer with ``encoder_attn`` between them;
    post-norm (BART) or, with ``pre_norm``, each sublayer's LayerNorm on its input (mBART)."""

    def __init__(self, config, decoder: bool, pre_norm: bool = False) -> None:
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
        self.pre_norm = pre_norm

    def forward(self, x: torch.Tensor, chunks, encoded: Optional[torch.Tensor]) -> torch.Tensor:
        """x [T, d] -> [T, d]; ``encoded`` [T, d]: the encoder's final states (decoder layers)."""
        sublayers = [(self.self_attn_layer_norm, lambda h: self.self_attn(h, h, chunks, causal=self.decoder))]
        if self.decoder:
            sublayers.append((self.encoder_attn_layer_norm, lambda h: self.encoder_attn(h, encoded, chunks, causal=False)))
        sublayers.append((self.final_layer_norm, lambda h: self.fc2(self.act(self.fc1(h)))))
        for norm, sublayer in sublayers:
            x = x + sublayer(norm(x)) if self.pre_norm else norm(x + sublayer(x))
        return x


class BartStack(nn.Module):
    """``model.encoder`` or ``model.decoder``: learned positions, ``layernorm_embedding``, the layers (and, pre-norm,
    a final ``layer_norm``)."""

    def __init__(self, config, decoder: bool, pre_norm: bool = False) -> None:
        super().__init__()
        d = config.d_model
        self.embed_positions = nn.Embedding(config.max_position_embeddings + _POSITION_OFFSET, d)
        self.layernorm_embedding = nn.LayerNorm(d)
        count = config.decoder_layers if decoder else config.encoder_layers
        self.layers = nn.ModuleList(BartLayer(config, decoder, pre_norm) for _ in range(count))
        self.layer_norm = nn.LayerNorm(d) if pre_norm else None

    def forward(self, embedded: torch.Tensor, positions: torch.Tensor, chunks,
                encoded: Optional[torch.Tensor] = None) -> torch.Tensor:
        """embedded [T, d] (scaled token embeddings), positions [T] (from 0 in each sequence) -> [T, d]."""
        x = self.layernorm_embedding(embedded + self.embed_positions(positions + _POSITION_OFFSET))
        for layer in self.layers:
            x = layer(x, chunks, encoded)
        return x if self.layer_norm is None else self.layer_norm(x)


class BartModelBody(nn.Module):
    """``model.*``: ``shared`` token embeddings, the encoder and the decoder."""

    def __init__(self, config, pre_norm: bool = False) -> None:
        super().__init__()
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder, self.decoder = (BartStack(config, decoder, pre_norm) for decoder in (False, True))


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
    pre_norm = False  # mBART's layers
    starts_from_last_token = False  # mBART's and PLBart's decoders start from the sequence's last token, not one id

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.model = BartModelBody(config, self.pre_norm)
        self.classification_head = BartClassificationHead(config)
        self.embed_scale = math.sqrt(config.d_model) if getattr(config, "scale_embedding", False) else 1.0
        self.decoder_start = config.decoder_start_token_id
        if self.decoder_start is None and not self.starts_from_last_token:
            raise ValueError("a BART classifier needs decoder_start_token_id in its config")
        self.eos = config.eos_token_id
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.classification_head, config))

    def hidden_states(self, batch, attention, rows):
        """The packed batch -> the decoder's final states at ``rows`` [R, d] ([T, d] for None). The
        attention backend is not used (see the module's docstring)."""
        ids, positions = batch.input_ids, batch.positions  # [T] each
        starts = torch.tensor([layout.start for layout in batch.layouts], device=ids.device)
        chunks = list(sequence_chunks(starts.tolist(), batch.seq_lens, ids.device, align_keys=True))
        encoded = self.model.encoder(self.model.shared(ids) * self.embed_scale, positions, chunks)
        shifted = torch.roll(ids, 1)  # each sequence's tokens one row later, its first row the start token
        lens = torch.tensor(batch.seq_lens, device=ids.device)
        shifted[starts] = ids[starts + lens - 1] if self.starts_from_last_token else self.decoder_start
        out = self.model.decoder(self.model.shared(shifted) * self.embed_scale, positions, chunks, encoded)
        return out if rows is None else out.index_select(0, last_eos_rows(ids, starts, lens, rows, self.eos))


def last_eos_rows(ids: torch.Tensor, starts: torch.Tensor, lens: torch.Tensor, rows: torch.Tensor,
                  eos: Optional[int]) -> torch.Tensor:
    """The pooler's ``rows`` (each sequence's last token, in order) moved to the sequence's last ``eos`` where it has
    one: where transformers' encoder-decoder classifiers read (BART's kin, T5's)."""
    if eos is None:
        return rows
    seq = torch.repeat_interleave(torch.arange(len(lens), device=ids.device), lens)  # [T] each row's sequence
    eos_rows = torch.nonzero(ids == eos).flatten()
    last = starts + lens - 1
    last_eos = last.clone().fill_(-1).scatter_reduce(0, seq[eos_rows], eos_rows, "amax")  # [B], -1: none
    moved = torch.where(last_eos >= 0, last_eos, last)  # [B]
    return moved[torch.searchsorted(last, rows)]


class MvpForSequenceClassification(BartForSequenceClassification):
    """MVP (RUCAIBox/mvp): BART's layers; its task prompts (``use_prompt``) are refused."""

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "use_prompt", False):
            raise ValueError("MVP with use_prompt (its task-specific prompt layers) is not supported")


class PLBartForSequenceClassification(BartForSequenceClassification):
    starts_from_last_token = True


class MBartForSequenceClassification(BartForSequenceClassification):
    pre_norm = True
    starts_from_last_token = True
