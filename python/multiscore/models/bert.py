"""BERT encoders (``BertModel``, ``BertForSequenceClassification``), inference only.

Parameter names follow Hugging Face (``embeddings.*``, ``encoder.layer.N.attention.self.query``
...) so checkpoints load by name. The forward takes a packed batch: the tokens of all sequences
concatenated, ``[T]``, with their lengths; attention is bidirectional within each sequence.
Dense layers (projections, MLP, LayerNorm) run on the packed ``[T, H]`` rows, so padding costs
nothing there; only attention pads to ``[B, Lmax]`` and masks the padded keys. Dropout is
omitted (inference only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {
    "gelu": F.gelu,  # exact (erf) GELU, what BERT was trained with
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


def activation(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"hidden_act {name!r} is not supported (one of {sorted(_ACTIVATIONS)})")
    return _ACTIVATIONS[name]


# Rows per MLP block (see BertLayer.forward).
_MLP_ROWS = 1024
# Sequences per attention chunk: chunks of similar lengths keep the padding (and the [b, nh, L, L]
# scores) small, as sentence-transformers' length-sorted batches of 64 do.
_ATTENTION_CHUNK = 64


class AttentionChunk:
    """Sequences of similar length, padded together to ``[b, L]`` for one attention call.

    ``rows`` [b * L]: the packed row each padded slot reads;
    ``real`` [n]: the padded slots that hold real tokens, and ``packed`` [n] their packed rows;
    ``key_mask`` [b, 1, 1, L]: True at real keys (None when the chunk has no padding).
    """

    def __init__(self, starts: torch.Tensor, lens: torch.Tensor) -> None:
        self.num_seqs, self.max_len = int(lens.shape[0]), int(lens.max())
        offsets = torch.arange(self.max_len, device=lens.device)  # [L]
        valid = offsets < lens[:, None]  # [b, L]
        # Padding slots read the sequence's first row: masked as keys, dropped as queries.
        rows = torch.where(valid, starts[:, None] + offsets, starts[:, None])  # [b, L]
        self.rows = rows.reshape(-1)
        self.real = valid.reshape(-1).nonzero().squeeze(1)
        self.packed = self.rows[self.real]
        self.key_mask = None if bool(valid.all()) else valid[:, None, None, :]


class PackedLayout:
    """The packed batch's sequences, and how attention pads them, built once per forward.

    ``pos[t]``: 0-based position of packed row t within its sequence ([T]). Attention runs per
    ``AttentionChunk``: sequences sorted by length, ``_ATTENTION_CHUNK`` at a time.
    """

    def __init__(self, seq_lens: list[int], device: torch.device) -> None:
        if not seq_lens or min(seq_lens) < 1:
            raise ValueError(f"seq_lens must be non-empty and every length >= 1, got {seq_lens}")
        self.num_tokens = sum(seq_lens)
        lens = torch.tensor(seq_lens, device=device)
        starts = torch.cumsum(lens, 0) - lens  # [B] first packed row of each sequence
        batch = torch.repeat_interleave(torch.arange(len(seq_lens), device=device), lens)  # [T]
        self.pos = torch.arange(self.num_tokens, device=device) - starts[batch]  # [T]
        order = torch.argsort(lens, stable=True)
        self.chunks = [
            AttentionChunk(starts[idx], lens[idx]) for idx in order.split(_ATTENTION_CHUNK)
        ]

    def attention(self, qkv: torch.Tensor, num_heads: int) -> torch.Tensor:
        """qkv [T, 3H] (q, k, v side by side) -> attention output [T, H], each sequence on its own."""
        T, H = qkv.shape[0], qkv.shape[1] // 3
        hd = H // num_heads
        if len(self.chunks) == 1 and self.chunks[0].key_mask is None and self.chunks[0].real.shape[0] == T:
            b, L = self.chunks[0].num_seqs, self.chunks[0].max_len
            if bool((self.chunks[0].rows == torch.arange(T, device=qkv.device)).all()):
                return _sdpa(qkv.view(b, L, 3 * H), num_heads, hd, None).reshape(T, H)  # no padding at all
        out = qkv.new_empty(T, H)
        for chunk in self.chunks:
            x = qkv.index_select(0, chunk.rows).view(chunk.num_seqs, chunk.max_len, 3 * H)
            y = _sdpa(x, num_heads, hd, chunk.key_mask).reshape(-1, H)  # [b * L, H]
            out.index_copy_(0, chunk.packed, y.index_select(0, chunk.real))
        return out


def _sdpa(qkv: torch.Tensor, nh: int, hd: int, key_mask) -> torch.Tensor:
    """qkv [b, L, 3H] -> [b, L, H]. Padded query rows see the real keys only (every sequence has
    one), so no NaNs; their outputs are never copied back."""
    b, L = qkv.shape[0], qkv.shape[1]
    q, k, v = qkv.view(b, L, 3, nh, hd).permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [b, nh, L, hd]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)  # [b, nh, L, hd]
    return out.transpose(1, 2).reshape(b, L, nh * hd)


class BertEmbeddings(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids, token_type_ids, positions) -> torch.Tensor:
        """[T] each -> [T, H]."""
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x + self.position_embeddings(positions))


class BertSelfAttention(nn.Module):
    """``attention.self``: the q/k/v projections and scaled dot-product attention."""

    def __init__(self, config) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

        self._fused = None  # (weight [3H, H], bias [3H]), built from query/key/value on first use

    def forward(self, x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        """[T, H] -> [T, H] (heads concatenated, before the output projection)."""
        if self._fused is None:  # one [3H, H] matmul instead of three, and no concatenation
            self._fused = (
                torch.cat([self.query.weight, self.key.weight, self.value.weight]).detach(),
                torch.cat([self.query.bias, self.key.bias, self.value.bias]).detach(),
            )
        qkv = F.linear(x, *self._fused)  # [T, 3H]
        return layout.attention(qkv, self.num_heads)


class DenseResidualNorm(nn.Module):
    """``attention.output`` and ``output``: LayerNorm(dense(x) + residual) (BERT is post-norm)."""

    def __init__(self, in_size: int, config) -> None:
        super().__init__()
        self.dense = nn.Linear(in_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = DenseResidualNorm(config.hidden_size, config)

    def forward(self, x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        return self.output(self.self(x, layout), x)


class BertIntermediate(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = activation(config.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))  # [T, I]


class BertLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = DenseResidualNorm(config.intermediate_size, config)

    def forward(self, x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        x = self.attention(x, layout)
        if x.shape[0] <= _MLP_ROWS:
            return self.output(self.intermediate(x), x)
        # Row blocks keep the [rows, intermediate] activation in cache: on CPU the MLP over a large
        # batch is bound by memory traffic, not arithmetic.
        for rows in x.split(_MLP_ROWS):  # views: each block is overwritten after it is read
            rows.copy_(self.output(self.intermediate(rows), rows))
        return x


class BertEncoder(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, layout)
        return x


class BertPooler(nn.Module):
    """``pooler``: tanh(dense(first token)), what the classifier reads."""

    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(first_token_hidden))  # [B, H]


class BertModel(nn.Module):
    """The bare encoder: ``embeddings.*``, ``encoder.layer.N.*`` and an optional ``pooler.*``.

    ``pooler`` is not used by ``forward``; it exists because checkpoints usually carry it (and the
    classifier needs it). A loader serving a checkpoint without ``pooler.*`` sets
    ``model.pooler = None``, so no parameter is left unfilled.
    """

    causal_lm = False
    is_encoder = True

    @staticmethod
    def first_position(config) -> int:
        """Position id of each sequence's first token: BERT counts 0..n-1."""
        return 0

    def __init__(self, config, add_pooler: bool = True) -> None:
        super().__init__()
        self.config = config
        self.position_offset = self.first_position(config)
        if getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type {config.position_embedding_type!r} is not supported")
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooler else None

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None, seq_lens: list[int]) -> torch.Tensor:
        """input_ids, token_type_ids [T] (sequences concatenated; None: all type 0) -> hidden [T, H]."""
        if sum(seq_lens) != input_ids.shape[0]:
            raise ValueError(f"seq_lens sum to {sum(seq_lens)}, but there are {input_ids.shape[0]} tokens")
        max_positions = self.config.max_position_embeddings - self.position_offset
        if max(seq_lens, default=0) > max_positions:
            raise ValueError(f"a sequence of {max(seq_lens)} tokens exceeds the {max_positions} positions of the model")
        layout = PackedLayout(seq_lens, input_ids.device)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids, layout.pos + self.position_offset)  # [T, H]
        return self.encoder(hidden, layout)


class BertForSequenceClassification(nn.Module):
    """``bert.*`` (encoder with pooler) + ``classifier``: logits = classifier(pooler(first token))."""

    causal_lm = False
    is_encoder = True

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids, token_type_ids, seq_lens: list[int]) -> torch.Tensor:
        return self.bert(input_ids, token_type_ids, seq_lens)  # [T, H]

    def classify(self, first_token_hidden: torch.Tensor) -> torch.Tensor:
        """[B, H] final hidden state of each sequence's [CLS] -> logits [B, num_labels]."""
        return self.classifier(self.bert.pooler(first_token_hidden))
