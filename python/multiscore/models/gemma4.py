"""Gemma 4 (text): Gemma 3's block (scaled embeddings, sandwich norms, GELU-tanh MLP, per-head q/k
norms, sliding and global layers with their own rotary) with what Gemma 4 adds:

- layers of their own shape: global layers have ``global_head_dim`` and, with ``attention_k_eq_v``,
  fewer kv heads whose values are their keys' projection (``per_layer_config``); values are
  RMS-normalised without a weight; scores are not scaled (q_norm's weight carries the scale);
  RMSNorms scale by ``w`` (not Gemma 3's ``1 + w``);
- KV sharing: the last ``num_kv_shared_layers`` layers compute no keys or values and attend to
  those of the last earlier layer of their type (prefix-cached keys included); their MLP may be
  double-wide (``use_double_wide_mlp``);
- per-layer embeddings (PLE, ``hidden_size_per_layer_input``): a token-id table and a projection
  of the embeddings give each layer a small vector, gated into the residual after the MLP;
- a learned ``layer_scalar`` per layer, and the 26B-A4B's experts beside the MLP (gemma4_moe.py).

Checkpoints: ``Gemma4ForCausalLM`` (rerankers read at label tokens, SGLang's /v1/score; or made a
``Gemma4ForSequenceClassification`` by ``classifier_from_token``), the bare
``Gemma4TextModel`` (an embedder; bidirectional with ``use_bidirectional_attention: "all"``), and
the multimodal ``Gemma4ForConditionalGeneration`` / ``Gemma4Model`` served as these on text
(configs/checkpoint_layouts.py).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of, layer_config, layer_windows
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER
from multiscore.layers.linear import FusedLinear, Linear
from multiscore.layers.norm import RMSNorm
from multiscore.layers.rotary import RotaryEmbedding
from multiscore.models.decoder import (
    BlockOptions,
    DecoderForCausalLM,
    DecoderForEmbedding,
    DecoderForSequenceClassification,
    GatedMLP,
    mlp_activation,
)
from multiscore.models.gemma4_moe import Gemma4Router, gemma4_experts


def _windows(config) -> list[Optional[int]]:
    """Each layer's window as the torch backend counts it. Bidirectional (``use_bidirectional_attention:
    "all"``, transformers then sets ``is_causal`` false), transformers' window is an inclusive radius
    (|q - k| <= sliding_window), the backend's an exclusive one (|q - k| < window)."""
    bidirectional = getattr(config, "is_causal", True) is False
    return [w + 1 if w is not None and bidirectional else w for w in layer_windows(config)]


def _kv_mode(config, layer: int) -> Optional[str]:
    """None: the layer computes its keys and values; "reuse": it attends to an earlier layer's."""
    return "reuse" if layer >= config.num_hidden_layers - (getattr(config, "num_kv_shared_layers", 0) or 0) else None


class Gemma4Attention(nn.Module):
    def __init__(self, config, layer_id: int, window: Optional[int]) -> None:
        super().__init__()
        own = layer_config(config, layer_id)
        self.layer_id, self.window = layer_id, window
        self.layer_type = config.layer_types[layer_id]
        self.num_heads, self.num_kv_heads, self.head_dim = config.num_attention_heads, own.num_key_value_heads, head_dim_of(own)
        self.q_size, self.kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        self.eps = config.rms_norm_eps
        self.reuses_kv = _kv_mode(config, layer_id) == "reuse"
        self.values_are_keys = bool(getattr(config, "attention_k_eq_v", False)) and self.layer_type != "sliding_attention"
        shards = {"q": self.q_size}
        if not self.reuses_kv:
            shards["k"] = self.kv_size
            if not self.values_are_keys:
                shards["v"] = self.kv_size
        self.qkv_proj = FusedLinear(config.hidden_size, shards, bias=config.attention_bias)
        self.o_proj = Linear(self.q_size, config.hidden_size, bias=config.attention_bias)
        self.q_norm = RMSNorm(self.head_dim, self.eps)
        if not self.reuses_kv:
            self.k_norm = RMSNorm(self.head_dim, self.eps)

    def forward(self, hidden: torch.Tensor, ctx: "Gemma4Context", keep_rows=None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key).
        Where the batch's layers already hold only the read rows (``ctx.read_rows``, the KV-sharing
        layers), hidden is [R, H] and so is the output."""
        T = hidden.shape[0]
        proj = self.qkv_proj(hidden)  # [T, q (+ k (+ v))]
        cos, sin = ctx.rotary[self.layer_type] if ctx.read_rows is None else ctx.read_rotary[self.layer_type]
        q = ctx.ops.norm_rotary(proj[:, : self.q_size].view(T, self.num_heads, self.head_dim), self.q_norm.weight,
                                self.eps, cos, sin)
        if ctx.read_rows is not None:  # R rows: the backend takes a query row per key row, so the rest are zeros
            k, v, cached = ctx.shared_kv[self.layer_type]
            q_all = q.new_zeros(k.shape[0], self.num_heads, self.head_dim).index_copy_(0, ctx.read_rows, q)
            # Only the read rows' outputs [R, Hq, D]: a backend that can computes only those (read_rows.py).
            out = ctx.attention.attend(q_all, k, v, 1.0, None, self.window, cached, rows=ctx.read_rows)
            return self.o_proj(out.reshape(T, self.q_size))
        if self.reuses_kv:
            k, v, cached = ctx.shared_kv[self.layer_type]
        else:
            k = proj[:, self.q_size : self.q_size + self.kv_size].view(T, self.num_kv_heads, self.head_dim)
            v = k if self.values_are_keys else proj[:, self.q_size + self.kv_size :].view(k.shape)
            v = F.rms_norm(v.float(), (self.head_dim,), None, self.eps).to(v.dtype)  # v_norm: no weight
            k = ctx.ops.norm_rotary(k, self.k_norm.weight, self.eps, cos, sin)
            cached = ctx.attention.cached_kv(self.layer_id, k, v)
            ctx.shared_kv[self.layer_type] = (k, v, cached)  # the later layers of this type that reuse them
        out = ctx.attention.attend(q, k, v, 1.0, None, self.window, cached)  # [T, Hq, D]
        if keep_rows is not None:
            out = out.index_select(0, keep_rows)
        return self.o_proj(out.reshape(out.shape[0], self.q_size))


class Gemma4Context:
    """Per-batch state every layer reads: each layer type's rotary ([T, 1, rot / 2] each), the
    attention, the element-wise ops, and the keys/values the KV-sharing layers reuse."""

    def __init__(self, rotary: dict, attention: BatchAttention, ops) -> None:
        self.rotary, self.attention, self.ops = rotary, attention, ops
        self.shared_kv: dict[str, tuple] = {}  # layer type -> (k, v, cached prefix k/v or None)
        # From the first KV-sharing layer on, only the rows the pooler reads [R], and their rotary.
        self.read_rows: Optional[torch.Tensor] = None
        self.read_rotary: dict = {}

    def keep_only(self, rows: torch.Tensor) -> None:
        self.read_rows = rows
        self.read_rotary = {t: (cos.index_select(0, rows), sin.index_select(0, rows)) for t, (cos, sin) in self.rotary.items()}


class Gemma4Layer(nn.Module):
    def __init__(self, config, layer_id: int, window: Optional[int]) -> None:
        super().__init__()
        H, eps = config.hidden_size, config.rms_norm_eps
        self.self_attn = Gemma4Attention(config, layer_id, window)
        wide = getattr(config, "use_double_wide_mlp", False) and self.self_attn.reuses_kv
        self.mlp = GatedMLP(config, BlockOptions(mlp_act=mlp_activation(config)),
                            config.intermediate_size * (2 if wide else 1))
        for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
            setattr(self, name, RMSNorm(H, eps))
        self.layer_scalar = nn.Parameter(torch.ones(1))  # a buffer in transformers, saved with the checkpoint
        self.per_layer_size = config.hidden_size_per_layer_input
        if self.per_layer_size:
            self.per_layer_input_gate = Linear(H, self.per_layer_size, bias=False)
            self.per_layer_projection = Linear(self.per_layer_size, H, bias=False)
            self.post_per_layer_input_norm = RMSNorm(H, eps)
            tanh = mlp_activation(config) == "gelu_tanh"
            self.per_layer_act = (lambda x: F.gelu(x, approximate="tanh")) if tanh else F.silu
        self.moe = bool(getattr(config, "enable_moe_block", False))
        if self.moe:
            self.router, self.experts = Gemma4Router(config), gemma4_experts(config)
            for name in ("pre_feedforward_layernorm_2", "post_feedforward_layernorm_1", "post_feedforward_layernorm_2"):
                setattr(self, name, RMSNorm(H, eps))

    def _norm(self, x: torch.Tensor, name: str, ops) -> torch.Tensor:
        norm = getattr(self, name)
        return ops.rms_norm(x, norm.weight, norm.eps)

    def forward(self, hidden: torch.Tensor, per_layer: Optional[torch.Tensor], ctx: Gemma4Context,
                keep_rows=None) -> torch.Tensor:
        """hidden [T, H], per_layer [T, P] (PLE) -> [T, H] ([R, H] for ``keep_rows``)."""
        ops = ctx.ops
        attn = self.self_attn(self._norm(hidden, "input_layernorm", ops), ctx, keep_rows)
        if keep_rows is not None:
            hidden = hidden.index_select(0, keep_rows)
            per_layer = None if per_layer is None else per_layer.index_select(0, keep_rows)
        hidden = hidden + self._norm(attn, "post_attention_layernorm", ops)
        mlp = self.mlp(self._norm(hidden, "pre_feedforward_layernorm", ops), ops)
        if self.moe:  # the experts read the residual stream, the dense MLP its own normed copy
            weights, experts = self.router(hidden)
            moe = self.experts(self._norm(hidden, "pre_feedforward_layernorm_2", ops), weights, experts)
            mlp = self._norm(mlp, "post_feedforward_layernorm_1", ops) + self._norm(moe, "post_feedforward_layernorm_2", ops)
        hidden = hidden + self._norm(mlp, "post_feedforward_layernorm", ops)
        if self.per_layer_size:
            gate = self.per_layer_act(self.per_layer_input_gate(hidden)) * per_layer  # [T, P]
            hidden = hidden + self._norm(self.per_layer_projection(gate), "post_per_layer_input_norm", ops)
        return hidden * self.layer_scalar


class Gemma4Body(nn.Module):
    """``model.*`` of a Gemma 4 text checkpoint; called as decoder.DecoderModel is."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        H, layers = config.hidden_size, config.num_hidden_layers
        self.embed_tokens = nn.Embedding(config.vocab_size, H)
        self.layers = nn.ModuleList(Gemma4Layer(config, i, w) for i, w in enumerate(_windows(config)))
        self.norm = RMSNorm(H, config.rms_norm_eps)
        self.per_layer_size = P = config.hidden_size_per_layer_input
        # EmbeddingGemma 2's PLE is the projection alone: no token-id table (no vocab_size_per_layer_input).
        self.per_layer_tokens = bool(P and getattr(config, "vocab_size_per_layer_input", None))
        if self.per_layer_tokens:
            self.embed_tokens_per_layer = nn.Embedding(config.vocab_size_per_layer_input, layers * P)
        if P:
            self.per_layer_model_projection = Linear(H, layers * P, bias=False)
            self.per_layer_projection_norm = RMSNorm(P, config.rms_norm_eps)
        # EmbeddingGemma 2: every token's final state projected to the embedding's size (before pooling).
        dim = getattr(config, "embedding_dim", None)
        self.embedding_projection = Linear(H, dim, bias=False) if dim else None
        # Each layer type rotates with its own base, over its own head size (global layers: a partial,
        # "proportional" rotary over global_head_dim).
        first_of = {t: config.layer_types.index(t) for t in set(config.layer_types)}
        self.rotary_emb = nn.ModuleDict({t: RotaryEmbedding(config, head_dim_of(layer_config(config, i)), t)
                                         for t, i in first_of.items()})
        self.ops = EAGER  # the worker swaps in compiled ones (``ModelWorker``)
        self.first_shared = config.num_hidden_layers - (getattr(config, "num_kv_shared_layers", 0) or 0)
        self.shared_layers_read_rows_only = self.first_shared > 0  # False: every row through every layer (benchmarks)

    def _scaled_embedding(self, table: nn.Embedding, ids: torch.Tensor, scale: float) -> torch.Tensor:
        """As transformers: the scale rounded to the weights' dtype."""
        return table(ids) * torch.tensor(scale, dtype=table.weight.dtype)

    def _per_layer_inputs(self, input_ids: torch.Tensor, embeds: torch.Tensor) -> torch.Tensor:
        """PLE: input_ids [T], embeds [T, H] -> [T, layers, P]: (the projected embeddings, normed, plus
        the token's own per-layer rows) / sqrt(2)."""
        T, P = input_ids.shape[0], self.per_layer_size
        projected = (self.per_layer_model_projection(embeds) * self.config.hidden_size**-0.5).view(T, -1, P)
        norm = self.per_layer_projection_norm
        projected = self.ops.rms_norm(projected, norm.weight, norm.eps)
        if not self.per_layer_tokens:  # EmbeddingGemma 2: the normed projection alone
            return projected
        tokens = self._scaled_embedding(self.embed_tokens_per_layer, input_ids, P**0.5).view(T, -1, P)
        return (projected + tokens) * 2**-0.5

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
                keep_rows: Optional[torch.Tensor], embed_overrides=None) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None).

        ``embed_overrides``: (rows [K], vectors [K, H]) that replace those rows' token embeddings (SGLang's
        embedding overrides), unscaled. As transformers' multimodal Gemma 4 treats an image's rows, their
        per-layer embeddings project the given vector and look up the pad token's own rows."""
        hidden = self._scaled_embedding(self.embed_tokens, input_ids, self.config.hidden_size**0.5)  # [T, H]
        ple_ids = input_ids
        if embed_overrides is not None:
            rows, vectors = embed_overrides
            hidden.index_copy_(0, rows, vectors.to(hidden.dtype))
            ple_ids = input_ids.index_fill(0, rows, self.config.pad_token_id or 0)
        per_layer = self._per_layer_inputs(ple_ids, hidden) if self.per_layer_size else None
        rotary = {t: emb.cos_sin(positions, hidden.dtype) for t, emb in self.rotary_emb.items()}
        ctx = Gemma4Context(rotary, attention, self.ops)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            if keep_rows is not None and i == self.first_shared and self.shared_layers_read_rows_only:
                # The KV-sharing layers make no keys: no other row reads theirs, so they run on the
                # rows the pooler reads alone (a few per item, against the whole query and items).
                ctx.keep_only(keep_rows)
                hidden = hidden.index_select(0, keep_rows)
                per_layer = None if per_layer is None else per_layer.index_select(0, keep_rows)
            layer_inputs = None if per_layer is None else per_layer[:, i]  # [T, P] ([R, P] once kept)
            rows = keep_rows if i == last and ctx.read_rows is None else None
            hidden = layer(hidden, layer_inputs, ctx, rows)
        hidden = self.ops.rms_norm(hidden, self.norm.weight, self.norm.eps)
        return hidden if self.embedding_projection is None else self.embedding_projection(hidden)


class _Gemma4:
    """What the three heads share: the body, and the config as transformers reads it."""

    make_body = staticmethod(Gemma4Body)

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        """``use_bidirectional_attention: "all"`` given as an override (after transformers read the
        config) as transformers reads it from config.json: ``is_causal`` false, and the sliding window
        made a radius of half its width (``sliding_window // 2 + 1``)."""
        if getattr(hf_config, "use_bidirectional_attention", None) == "all" and getattr(hf_config, "is_causal", True):
            hf_config.is_causal = False
            hf_config.sliding_window = hf_config.sliding_window // 2 + 1


class Gemma4ForCausalLM(_Gemma4, DecoderForCausalLM):
    """Next-token probabilities of label tokens (logits soft-capped by ``final_logit_softcapping``)."""


class Gemma4ForSequenceClassification(_Gemma4, DecoderForSequenceClassification):
    """The ``score`` head at the last token. transformers has no such class: this is what
    ``classifier_from_token`` (vLLM's LLM-as-reranker) converts a ``Gemma4ForCausalLM`` to."""


class Gemma4TextModel(_Gemma4, DecoderForEmbedding):
    """The bare decoder as an embedder; bidirectional (an encoder) with ``use_bidirectional_attention: "all"``
    (transformers then sets ``is_causal`` false, which the classifier follows too; the LM head refuses it)."""


class _Gemma4Unified(_Gemma4):
    """Gemma 4 unified (``gemma4_unified_text``: google/gemma-4-12B): Gemma 4's layers without per-layer
    embeddings or experts (its config removes their keys). Its ``use_bidirectional_attention`` "vision" leaves
    text causal."""

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.hidden_size_per_layer_input = 0
        super().adapt_config(hf_config)


class Gemma4UnifiedForCausalLM(_Gemma4Unified, DecoderForCausalLM):
    pass


class Gemma4UnifiedForSequenceClassification(_Gemma4Unified, DecoderForSequenceClassification):
    """Ours (transformers has none): what ``classifier_from_token`` converts the causal LM to."""


class Gemma4UnifiedTextModel(_Gemma4Unified, DecoderForEmbedding):
    pass
