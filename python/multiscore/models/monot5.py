"""T5 rerankers read at their first decoding step (transformers' ``T5ForConditionalGeneration`` /
``MT5ForConditionalGeneration``): castorini's MonoT5 (monot5-base / large / 3b-msmarco) and the mT5
mMARCO ones (unicamp-dl/mt5-base-mmarco-v2).

The encoder (t5.py's blocks) reads the pair as the built-in ``monot5`` score template writes it,
"Query: q Document: d Relevant:" (the tokenizer appends ``</s>``). The decoder takes one step from
``decoder_start_token_id``, and the LM head's logits there at two tokens give one relevance score,
logit[true] - logit[false], whose sigmoid is MonoT5's softmax over the two (vLLM's
``from_2_way_softmax``, seq_cls_conversion.py: the ``score`` head is built from those LM-head rows as
the checkpoint loads). The tokens are ``["false", "true"]`` for T5 and ``["no", "yes"]`` for mT5
(seq_cls_conversion.DEFAULT_CLASSIFIER_TOKENS) unless ``classifier_from_token`` (and ``method``) say otherwise.

One decoder step: its self-attention sees itself alone (a softmax over one key: its value, through
``o``), its cross-attention reads the sequence's encoder states (T5 neither scales the scores nor
biases cross-attention by position), then the feed-forward; the final norm, times d_model ** -0.5
when the LM head is the embedding (T5 v1.0's tie), feeds the head. Bidirectional: no MIS, no prefix cache.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.configs.model_kind import ModelKind, Task
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.linear import Linear
from multiscore.layers.pooler import ClassifierHead, Pooler, PoolingMethod
from multiscore.models.base import PoolingModel
from multiscore.models.relative_bias import RelativeBias
from multiscore.models.sequence_chunks import sequence_chunks
from multiscore.models.t5 import T5_PACKED_MODULES, T5Block, T5DecoderBlock, T5LayerNorm

class T5FirstStep(T5DecoderBlock):
    """A decoder block at the first decoding step."""

    def forward(self, x: torch.Tensor, encoded: torch.Tensor, spans: list[slice]) -> torch.Tensor:
        """x [B, d_model]: one decoder position per sequence; encoded [T, d_model], sequence b's rows ``spans[b]``."""
        attn, cross, ff = self.layer
        own = attn.SelfAttention
        v = own.qkv(attn.layer_norm(x)).view(x.shape[0], 3, -1)[:, 2]  # [B, inner]: attending to itself alone
        x = x + own.o(v)
        heads, D = cross.EncDecAttention.num_heads, cross.EncDecAttention.head_dim
        q = cross.EncDecAttention.qkv(cross.layer_norm(x)).view(x.shape[0], 3, heads, D)[:, 0]  # [B, heads, D]
        k, v = cross.EncDecAttention.qkv(encoded).view(encoded.shape[0], 3, heads, D)[:, 1:].unbind(1)  # [T, heads, D]
        out = torch.stack([torch.einsum("hd,lhd->hl", q[b], k[rows]).float().softmax(-1).to(v.dtype).unsqueeze(1)
                           .matmul(v[rows].transpose(0, 1)).squeeze(1) for b, rows in enumerate(spans)])  # [B, heads, D]
        x = x + cross.EncDecAttention.o(out.reshape(x.shape[0], heads * D))
        return x + ff.DenseReluDense(ff.layer_norm(x))


class T5ForConditionalGeneration(PoolingModel):
    kind = ModelKind.ENCODER_CLASSIFIER
    packed_modules_mapping = T5_PACKED_MODULES
    weight_renames = {"shared.": "model.embed_tokens."}  # the LM-head rows of a tied checkpoint (weight_loader)
    score_template = "monot5"
    prefix_cache_problem = "its encoder is bidirectional"

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """transformers 5 reads every T5 config as tied and keeps whether the checkpoint was in
        ``scale_decoder_outputs`` (T5 v1.0: tied and scaled; v1.1 and mT5: an LM head of their own,
        unscaled): that decides which rows the head is built from (weight_loader) and the scale."""
        hf_config.tie_word_embeddings = bool(getattr(hf_config, "scale_decoder_outputs", hf_config.tie_word_embeddings))

    @classmethod
    def tasks_for(cls, kind: ModelKind, hf_config) -> frozenset[Task]:
        return frozenset({Task.CLASSIFY} | ({Task.SCORE} if hf_config.num_labels == 1 else set()))

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)  # T5's ``shared``
        self.encoder, self.decoder = nn.Module(), nn.Module()
        self.encoder.block = nn.ModuleList(T5Block(config, first=i == 0) for i in range(config.num_layers))
        self.encoder.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.decoder.block = nn.ModuleList(T5FirstStep(config, i == 0) for i in range(config.num_decoder_layers))
        self.decoder.final_layer_norm = T5LayerNorm(config.d_model, config.layer_norm_epsilon)
        self.score = Linear(config.d_model, config.num_labels, bias=False)
        self.head_scale = config.d_model**-0.5 if getattr(config, "tie_word_embeddings", True) else 1.0
        start = getattr(config, "decoder_start_token_id", None)
        self.start_id = int(config.pad_token_id if start is None else start)
        self.pooler = Pooler(PoolingMethod.CLS, ClassifierHead(self.classify, config))

    def classify(self, decoded: torch.Tensor) -> torch.Tensor:
        """The first step's final states [B, d_model] -> logits [B, num_labels]."""
        return self.score((decoded * self.head_scale).to(self.score.weight.dtype))

    def hidden_states(self, batch, attention, rows):
        """The packed batch -> the decoder's first-step state per sequence [B, d_model] (the pooler's
        rows, one per sequence). The attention backend is not used: T5's relative bias is added here."""
        embed = self.model.embed_tokens
        x = embed(batch.input_ids)  # [T, d_model]
        starts = [layout.start for layout in batch.layouts]
        chunks = list(sequence_chunks(starts, batch.seq_lens, x.device, align_keys=True))
        table = self.encoder.block[0].layer[0].SelfAttention.relative_attention_bias
        bias = RelativeBias(table, self.config.relative_attention_max_distance)
        for block in self.encoder.block:
            x = block(x, chunks, bias)
        encoded = self.encoder.final_layer_norm(x)
        spans = [slice(s, s + n) for s, n in zip(starts, batch.seq_lens)]
        y = embed.weight[self.start_id].expand(len(spans), -1)  # [B, d_model]
        for block in self.decoder.block:
            y = block(y, encoded, spans)
        return self.decoder.final_layer_norm(y)


MT5ForConditionalGeneration = T5ForConditionalGeneration  # mT5: the same layers (gated GELU), its own vocabulary
