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


class PackedLayout:
    """Where each packed row sits in a padded ``[B, Lmax]`` batch, built once per forward.

    ``batch[t]``/``pos[t]``: sequence and 0-based position of packed row t ([T] each);
    ``key_mask``: [B, 1, 1, Lmax], True at real keys (None when no sequence is padded).
    """

    def __init__(self, seq_lens: list[int], device: torch.device) -> None:
        if not seq_lens or min(seq_lens) < 1:
            raise ValueError(f"seq_lens must be non-empty and every length >= 1, got {seq_lens}")
        self.num_seqs, self.max_len = len(seq_lens), max(seq_lens)
        self.num_tokens = sum(seq_lens)
        lens = torch.tensor(seq_lens, device=device)
        starts = torch.cumsum(lens, 0) - lens  # [B] first packed row of each sequence
        self.batch = torch.repeat_interleave(torch.arange(self.num_seqs, device=device), lens)  # [T]
        self.pos = torch.arange(self.num_tokens, device=device) - starts[self.batch]  # [T]
        # Equal lengths (a single sequence included): the packed rows are already [B, L] row-major.
        self.dense = self.num_seqs * self.max_len == self.num_tokens
        self.key_mask = None
        if not self.dense:
            mask = torch.arange(self.max_len, device=device) < lens[:, None]  # [B, Lmax]
            self.key_mask = mask[:, None, None, :]  # broadcast over heads and query rows

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """[T, D] -> [B, Lmax, D], zeros in the padding."""
        if self.dense:
            return x.view(self.num_seqs, self.max_len, x.shape[-1])
        out = x.new_zeros(self.num_seqs, self.max_len, x.shape[-1])
        out[self.batch, self.pos] = x
        return out

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """[B, Lmax, D] -> [T, D], the real rows in packed order."""
        if self.dense:
            return x.reshape(self.num_tokens, x.shape[-1])
        return x[self.batch, self.pos]


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

    def forward(self, x: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
        """[T, H] -> [T, H] (heads concatenated, before the output projection)."""
        B, L, nh, hd = layout.num_seqs, layout.max_len, self.num_heads, self.head_dim
        # One scatter for q, k and v together: [T, 3H] -> [B, L, 3, nh, hd] -> 3 x [B, nh, L, hd].
        qkv = layout.pad(torch.cat([self.query(x), self.key(x), self.value(x)], dim=-1))
        q, k, v = qkv.view(B, L, 3, nh, hd).permute(2, 0, 3, 1, 4).unbind(0)
        # Padded query rows see the real keys only (every sequence has one), so no NaNs; their
        # outputs are dropped by unpad.
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.key_mask)  # [B, nh, L, hd]
        return layout.unpad(out.transpose(1, 2).reshape(B, L, nh * hd))


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
        return self.output(self.intermediate(x), x)


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
