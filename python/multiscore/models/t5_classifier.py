"""T5's encoder-decoder classifiers (``T5ForSequenceClassification``, ``MT5ForSequenceClassification``,
``UMT5ForSequenceClassification``): classifiers fine-tuned on T5, mT5 and UMT5 with transformers' sequence
classification head.

The encoder reads the sequence (t5.py's blocks), the decoder reads it shifted right by one
(``decoder_start_token_id`` first, T5's pad id), causal, with its own relative-position bias over T5's
unidirectional buckets, and attends to the encoder's states of the same sequence (unscaled, unbiased); each
stack ends in its RMS norm. The class scores come from the decoder's final state at the sequence's last ``</s>``
through ``classification_head`` (dense, tanh, out_proj), as transformers reads them. Attention runs within each
sequence over chunks of similar-length sequences (sequence_chunks.py); the attention backends are not used.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.bart import BartClassificationHead, last_eos_rows
from multiscore.models.base import PoolingModel
from multiscore.models.relative_bias import RelativeBias
from multiscore.models.sequence_chunks import attend_in_chunks, sequence_chunks
from multiscore.models.t5 import T5_PACKED_MODULES, T5Block, T5DecoderBlock, T5LayerNorm


class T5DecoderLayer(T5DecoderBlock):
    """A decoder block over the whole shifted sequence: causal self-attention with the relative bias."""

    def forward(self, x: torch.Tensor, encoded: torch.Tensor, chunks, bias: RelativeBias) -> torch.Tensor:
        """x [T, d_model] (the shifted sequences' states), encoded [T, d_model] -> [T, d_model]."""
        attn, cross, ff = self.layer
        T, own = x.shape[0], attn.SelfAttention
        q, k, v = own.qkv(attn.layer_norm(x)).view(T, 3, own.num_heads, own.head_dim).unbind(1)  # [T, heads, D]
        x = x + own.o(attend_in_chunks(q, k, v, chunks, 1.0, causal=True, bias=bias).reshape(T, -1))
        other = cross.EncDecAttention
        q = other.qkv(cross.layer_norm(x)).view(T, 3, other.num_heads, other.head_dim)[:, 0]  # [T, heads, D]
        k, v = other.qkv(encoded).view(T, 3, other.num_heads, other.head_dim)[:, 1:].unbind(1)
        x = x + other.o(attend_in_chunks(q, k, v, chunks, 1.0).reshape(T, -1))
        return x + ff.DenseReluDense(ff.layer_norm(x))


class T5ForSequenceClassification(PoolingModel):
    """``transformer.{shared, encoder, decoder}`` + ``classification_head`` at the last ``</s>``."""

    kind = ModelKind.ENCODER_CLASSIFIER  # the pair is one sequence, seen whole by the encoder: no MIS
    packed_modules_mapping = T5_PACKED_MODULES
    weight_prefix_aliases = {"transformer.": ""}
    # The stacks' token embeddings are ``shared`` (tied); checkpoints may store any of them.
    weight_renames = {"transformer.encoder.embed_tokens.": "shared.", "transformer.decoder.embed_tokens.": "shared."}
    bias_per_block = False  # UMT5's: every block its own relative bias table

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder, self.decoder = nn.Module(), nn.Module()
        self.encoder.block = nn.ModuleList(T5Block(config, first=i == 0 or self.bias_per_block)
                                           for i in range(config.num_layers))
        self.decoder.block = nn.ModuleList(T5DecoderLayer(config, i == 0 or self.bias_per_block)
                                           for i in range(config.num_decoder_layers))
        for stack in (self.encoder, self.decoder):
            stack.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.classification_head = BartClassificationHead(config)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.classification_head, config))

    def _biases(self, blocks, bidirectional: bool) -> list[RelativeBias]:
        """Each block's relative bias (UMT5: its own table; T5: the first block's, shared)."""
        tables = [block.layer[0].SelfAttention.relative_attention_bias for block in blocks]
        tables = tables if self.bias_per_block else tables[:1] * len(blocks)
        return [RelativeBias(table, self.config.relative_attention_max_distance, bidirectional) for table in tables]

    def hidden_states(self, batch, attention, rows):
        """The packed batch -> the decoder's final states at ``rows`` moved to each sequence's last ``</s>`` [R, d]
        ([T, d] for None)."""
        ids = batch.input_ids  # [T]
        starts = torch.tensor([layout.start for layout in batch.layouts], device=ids.device)
        lens = torch.tensor(batch.seq_lens, device=ids.device)
        chunks = list(sequence_chunks(starts.tolist(), batch.seq_lens, ids.device, align_keys=True))
        x = self.shared(ids)
        for block, bias in zip(self.encoder.block, self._biases(self.encoder.block, True)):
            x = block(x, chunks, bias)
        encoded = self.encoder.final_layer_norm(x)
        shifted = torch.roll(ids, 1)  # each sequence's tokens one row later, its first row the start token
        shifted[starts] = self.config.decoder_start_token_id
        y = self.shared(shifted)
        for block, bias in zip(self.decoder.block, self._biases(self.decoder.block, False)):
            y = block(y, encoded, chunks, bias)
        out = self.decoder.final_layer_norm(y)
        return out if rows is None else out.index_select(0, last_eos_rows(ids, starts, lens, rows, self.config.eos_token_id))


MT5ForSequenceClassification = T5ForSequenceClassification  # mT5: the same layers (gated GELU), its own vocabulary


class UMT5ForSequenceClassification(T5ForSequenceClassification):
    bias_per_block = True
