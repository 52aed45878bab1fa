"""Decoder-only transformer blocks and heads shared by Qwen3, Qwen2 and Llama.

Parameter names follow Hugging Face (``model.layers.N.self_attn...``) so checkpoints load by
name; q/k/v and gate/up are fused into one matmul each (``FusedLinear``), filled from the separate
checkpoint tensors as ``packed_modules_mapping`` declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from multiscore.configs.attention_geometry import head_dim_of, layer_windows
from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.attention import BatchAttention
from multiscore.layers.fused_ops import EAGER, FusedOps
from multiscore.layers.linear import FusedLinear, Linear, grouped_to_blocked
from multiscore.layers.norm import RMSNorm
from multiscore.layers.pooler import ClassifierHead, LabelProbabilityHead, Pooler, PoolingMethod
from multiscore.layers.rotary import RotaryEmbedding, per_layer_type_rope, rotary_dims
from multiscore.models.base import PoolingModel, embedding_pooler


_MLP_CHUNK_ELEMENTS = 8 * 1024 * 1024  # elements of one MLP intermediate chunk (32 MB in fp32)


@dataclass(frozen=True)
class BlockOptions:
    """What differs between the architectures' decoder blocks."""

    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False  # Qwen3: RMSNorm over each head of q and k before rotary
    qk_norm_after_rotary: bool = False  # HunYuan: that per-head norm after rotary instead
    qk_norm_across_heads: bool = False  # OLMo 2: one RMSNorm over all of q's heads (and k's) together, before rotary
    # OLMo 2: no norm before attention or the MLP; each one's output normed before its residual add.
    post_norms_only: bool = False
    mlp_act: str = "silu"  # the gated MLP's activation: "silu" or "gelu_tanh" (Gemma)
    embed_scale: Optional[float] = None  # Gemma: token embeddings times sqrt(hidden), in their dtype
    norm_offset: float = 0.0  # Gemma: every RMSNorm scales by 1 + w (RMSNorm.weight_offset)
    attn_scale: Optional[float] = None  # scores' scale; None: head_dim ** -0.5 (Gemma2: query_pre_attn_scalar ** -0.5)
    attn_softcap: Optional[float] = None  # Gemma2: scores -> cap · tanh(scores / cap)
    sandwich_norms: bool = False  # Gemma2: attention and MLP outputs normed before the residual add
    # Ministral 3 (Llama 4's attention temperature): (beta, original_max_position_embeddings); each
    # query is scaled by 1 + beta · log(1 + floor(position / original_max)), i.e. 1 below that length.
    query_temperature: Optional[tuple[float, int]] = None
    # Granite: attention and MLP outputs scaled before the residual add; folded into o_proj and
    # down_proj when their weights load (Linear.output_scale), so no pass of its own.
    residual_multiplier: float = 1.0
    # Mixture-of-experts architectures: (config, options, layer id) -> that layer's MLP, called as
    # GatedMLP is (models/sparse_moe.py); None: every layer a GatedMLP.
    mlp_for_layer: Optional[Callable[..., nn.Module]] = None
    # (config, options, layer id) -> that layer's attention, called as DecoderAttention is (MiniCPM3's
    # latent attention); None: every layer a DecoderAttention.
    attention_for_layer: Optional[Callable[..., nn.Module]] = None
    # GPT-OSS's rotary over (2i, 2i + 1) pairs: served as the half rotary, each head's q and k rows put
    # evens-then-odds as they load (no score changes: q·k sums over the same pairs).
    pair_rotary: bool = False
    # GPT-OSS's learned sink logit per head (``sinks`` [Hq]), in each softmax's denominator.
    attention_sinks: bool = False
    # LFM3: each head's output times σ(g_proj(x)), a gate per head from the layer's input (``g_proj`` [Hq, H]).
    head_output_gate: bool = False
    # Arcee's AFMoE: the output times σ(g_proj(x)) dimension by dimension (``g_proj`` [Hq·D, H]).
    output_gate_per_dim: bool = False
    # OLMo, OLMoE, DBRX: q, k and v clamped to ±clip_qkv after their projection (OLMoE's: after its q/k norms).
    clip_qkv: Optional[float] = None
    # Laguna: those gates are softplus(g) (in float32), not σ(g).
    output_gate_softplus: bool = False
    # MiniCPM5-MoE: that gate from q_proj, which holds each head's query rows, then its gate rows ([Hq·2·D, H]).
    query_holds_gate: bool = False
    # (config, layer id) -> whether that layer's q and k rotate; False: a NoPE layer (SmolLM3's every
    # fourth, EXAONE 4.0's and Command R7B's global layers). None: every layer rotates.
    rotary_layer: Optional[Callable[..., bool]] = None


def sliding_layers_rotate(config, layer_id: int) -> bool:
    """BlockOptions.rotary_layer of models whose global layers take no rotary (EXAONE 4.0, Command R7B)."""
    return config.layer_types[layer_id] == "sliding_attention"


def scale_or_none(multiplier: float) -> Optional[float]:
    """A Linear's ``output_scale`` for a residual multiplier: None for 1."""
    return None if float(multiplier) == 1.0 else float(multiplier)


# hidden_act of a config -> BlockOptions.mlp_act
_MLP_ACTIVATIONS = {"silu": "silu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh"}


def mlp_activation(config) -> str:
    """The config's MLP activation as a BlockOptions.mlp_act. Gemma2/3 configs name it
    hidden_activation (their hidden_act is a legacy field, often None)."""
    act = getattr(config, "hidden_activation", None) or getattr(config, "hidden_act", None) or "silu"
    if act not in _MLP_ACTIVATIONS:
        raise ValueError(f"hidden_act {act!r} is not supported (one of {sorted(_MLP_ACTIVATIONS)})")
    return _MLP_ACTIVATIONS[act]


@dataclass
class ForwardContext:
    """Per-batch state every layer reads (built once per forward)."""

    cos: torch.Tensor  # [T, 1, head_dim / 2]
    sin: torch.Tensor  # [T, 1, head_dim / 2]
    attention: BatchAttention
    ops: FusedOps  # the element-wise chains, eager or compiled
    # Gemma3: the sliding layers' own rotary ([T, 1, head_dim / 2] each); None: they share cos/sin.
    local_cos_sin: Optional[tuple[torch.Tensor, torch.Tensor]] = None
    query_scale: Optional[torch.Tensor] = None  # [T, 1, 1]: BlockOptions.query_temperature at each position


class DecoderAttention(nn.Module):
    def __init__(self, config, options: BlockOptions, window: Optional[int] = None, local_rope: bool = False,
                 layer_id: int = 0) -> None:
        super().__init__()
        self.layer_id = layer_id  # which of the prefix cache's per-layer keys/values are this layer's
        self.window = window  # sliding-window layers: keys within the last ``window`` positions
        self.local_rope = local_rope  # rotate with ForwardContext.local_cos_sin (Gemma3's sliding layers)
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or self.num_heads
        self.head_dim = head_dim_of(config)
        self.q_size = self.num_heads * self.head_dim
        self.kv_size = self.num_kv_heads * self.head_dim
        self.scale = options.attn_scale or self.head_dim**-0.5
        self.softcap = options.attn_softcap
        self.gate_in_query = options.query_holds_gate
        self.q_rows = 2 * self.q_size if self.gate_in_query else self.q_size  # [queries | gates]
        self.qkv_proj = FusedLinear(
            config.hidden_size, {"q": self.q_rows, "k": self.kv_size, "v": self.kv_size}, bias=options.qkv_bias
        )
        if self.gate_in_query:  # each head's [query | gate] rows as stored -> every query, then every gate
            self.qkv_proj.shard_load_orders = {"q": grouped_to_blocked(self.num_heads, [self.head_dim, self.head_dim])}
        self.o_proj = Linear(self.q_size, config.hidden_size, bias=options.o_bias)
        self.o_proj.output_scale = scale_or_none(options.residual_multiplier)
        if options.pair_rotary:
            rotary_dim = rotary_dims(config, self.head_dim)
            self.qkv_proj.shard_load_orders = {"q": pairs_first(self.num_heads, self.head_dim, rotary_dim),
                                               "k": pairs_first(self.num_kv_heads, self.head_dim, rotary_dim)}
        self.sinks = nn.Parameter(torch.empty(self.num_heads)) if options.attention_sinks else None
        self.rotary = options.rotary_layer(config, layer_id) if options.rotary_layer else True  # False: NoPE
        self.scales_queries = True  # by ForwardContext.query_scale, where the model has one (Llama 4: NoPE layers only)
        self.gate_per_dim = options.output_gate_per_dim or self.gate_in_query
        self.gate_softplus = options.output_gate_softplus
        self.clip_qkv = options.clip_qkv
        gate_width = self.q_size if self.gate_per_dim else self.num_heads
        self.g_proj = (Linear(config.hidden_size, gate_width, bias=False)
                       if options.head_output_gate or options.output_gate_per_dim else None)
        self.qk_norm = options.qk_norm or options.qk_norm_after_rotary
        self.qk_norm_after_rotary = options.qk_norm_after_rotary
        self.qk_norm_across_heads = options.qk_norm_across_heads
        if self.qk_norm or options.qk_norm_across_heads:
            q_width, k_width = (self.q_size, self.kv_size) if options.qk_norm_across_heads else (self.head_dim, self.head_dim)
            self.q_norm = RMSNorm(q_width, config.rms_norm_eps, options.norm_offset)
            self.k_norm = RMSNorm(k_width, config.rms_norm_eps, options.norm_offset)

    def forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows=None) -> torch.Tensor:
        """hidden [T, H] -> [T, H], or [R, H] for only ``keep_rows`` (every row still serves as a key)."""
        T = hidden.shape[0]
        q, k, v = self.qkv_proj(hidden).split([self.q_rows, self.kv_size, self.kv_size], dim=-1)
        gate = None  # [T, Hq·D] (or [R, ...]) pre-sigmoid gates, where the queries hold them
        if self.gate_in_query:
            q, gate = q.split([self.q_size, self.q_size], dim=-1)
            gate = gate if keep_rows is None else gate.index_select(0, keep_rows)
        if self.qk_norm_across_heads:  # [T, Hq·D] and [T, Hkv·D]
            q = ctx.ops.rms_norm(q, self.q_norm.weight, self.q_norm.eps)
            k = ctx.ops.rms_norm(k, self.k_norm.weight, self.k_norm.eps)
        if self.clip_qkv is not None:
            q, k, v = (x.clamp(-self.clip_qkv, self.clip_qkv) for x in (q, k, v))
        q = q.view(T, self.num_heads, self.head_dim)
        k = k.view(T, self.num_kv_heads, self.head_dim)
        v = v.view(T, self.num_kv_heads, self.head_dim)
        q_weight, k_weight, eps = None, None, 0.0  # no per-head norm: rotary only
        if self.qk_norm and not self.qk_norm_after_rotary:
            q_weight, k_weight, eps = self.q_norm.weight, self.k_norm.weight, self.q_norm.eps
        cos, sin = ctx.local_cos_sin if self.local_rope and ctx.local_cos_sin else (ctx.cos, ctx.sin)
        if self.rotary:
            q, k = ctx.ops.norm_rotary(q, q_weight, eps, cos, sin), ctx.ops.norm_rotary(k, k_weight, eps, cos, sin)
        if self.qk_norm and (self.qk_norm_after_rotary or not self.rotary):  # [T, heads, D], each head normed
            q = ctx.ops.rms_norm(q, self.q_norm.weight, self.q_norm.eps)
            k = ctx.ops.rms_norm(k, self.k_norm.weight, self.k_norm.eps)
        if ctx.query_scale is not None and self.scales_queries:
            q = q * ctx.query_scale
        out = ctx.attention(q, k, v, self.scale, self.softcap, self.window, layer=self.layer_id, sinks=self.sinks,
                            rows=keep_rows)  # [T, Hq, D], or [R, Hq, D] for keep_rows
        if self.g_proj is not None:  # [R, Hq] (or [R, Hq·D]) gates from the same rows' inputs
            gate = self.g_proj(hidden if keep_rows is None else hidden.index_select(0, keep_rows))
        if gate is not None:
            gate = torch.nn.functional.softplus(gate.float()).to(out.dtype) if self.gate_softplus else torch.sigmoid(gate)
            out = out * (gate.view(out.shape) if self.gate_per_dim else gate[..., None])
        return self.o_proj(out.reshape(out.shape[0], self.q_size))


def pairs_first(num_heads: int, head_dim: int, rotary_dim: Optional[int] = None) -> torch.Tensor:
    """Row order [heads · head_dim] putting each head's even dims before its odd ones: 0, 2, ..., 1, 3, ...
    within its first ``rotary_dim`` (the rotated ones: GLM's half; None: all), the rest as they are
    (on the CPU, where the loader reads it, even when the model is built on the meta device)."""
    rot = head_dim if rotary_dim is None else rotary_dim
    within = torch.cat([torch.arange(0, rot, 2, device="cpu"), torch.arange(1, rot, 2, device="cpu"),
                        torch.arange(rot, head_dim, device="cpu")])
    return (torch.arange(num_heads, device="cpu")[:, None] * head_dim + within).reshape(-1)



class GatedMLP(nn.Module):
    def __init__(self, config, options: BlockOptions, intermediate_size: Optional[int] = None) -> None:
        """``intermediate_size``: this layer's, where it is not the config's (Gemma 4's double-wide layers)."""
        super().__init__()
        self.act_mul = "silu_mul" if options.mlp_act == "silu" else "gelu_tanh_mul"  # a FusedOps field
        self.intermediate_size = size = intermediate_size or config.intermediate_size
        self.gate_up_proj = FusedLinear(config.hidden_size, {0: size, 1: size}, bias=options.mlp_bias)
        self.down_proj = Linear(size, config.hidden_size, bias=options.mlp_bias)
        self.down_proj.output_scale = scale_or_none(options.residual_multiplier)

    def forward(self, x: torch.Tensor, ops: FusedOps) -> torch.Tensor:
        # Rows are independent: in chunks, the [rows, 2I] intermediate stays cache-sized, so the
        # memory-bound SiLU·up pass does not stream a [T, 2I] buffer through RAM (~15% on CPU).
        chunks = row_chunks(x.shape[0], max(128, _MLP_CHUNK_ELEMENTS // (2 * self.intermediate_size)))
        act_mul = getattr(ops, self.act_mul)
        adapters = self.gate_up_proj.task_adapters
        if len(chunks) == 1 or (adapters is not None and adapters.rows.groups):  # adapters see the whole batch
            return self._rows(x, act_mul)
        out = x.new_empty(x.shape)
        for r0, r1 in chunks:
            out[r0:r1] = self._rows(x[r0:r1], act_mul)
        return out

    def _rows(self, x: torch.Tensor, act_mul) -> torch.Tensor:
        """x [M, H] -> [M, H]. The intermediate keeps the packed product's row padding, so the down
        projection needs none."""
        return self.down_proj(act_mul(self.gate_up_proj(x, keep_padding=True)))[: x.shape[0]]


def row_chunks(total: int, rows: int) -> list[tuple[int, int]]:
    """[start, end) chunks of ``rows`` covering ``total`` rows; a remainder under half a chunk joins the
    last one. One product of 1,857 rows beat 1,365 + 492 (Qwen3-0.6B's MLP, bf16, 2-core AMX Xeon: the
    MIS pass 974 vs 1,012 ms, alternating), while chunks of 1,365 beat 2,730 at 4,096 rows (31 vs 43 ms)."""
    n = max(1, (total + rows // 2) // rows)  # chunks: the remainder rounds to the nearest whole one
    bounds = [min(i * rows, total) for i in range(n)] + [total]
    return list(zip(bounds[:-1], bounds[1:]))


class DecoderLayer(nn.Module):
    def __init__(self, config, options: BlockOptions, window: Optional[int] = None, local_rope: bool = False,
                 layer_id: int = 0) -> None:
        super().__init__()
        self.self_attn = (options.attention_for_layer(config, options, layer_id) if options.attention_for_layer
                          else DecoderAttention(config, options, window, local_rope, layer_id))
        self.mlp = options.mlp_for_layer(config, options, layer_id) if options.mlp_for_layer else GatedMLP(config, options)
        norm = lambda: RMSNorm(config.hidden_size, config.rms_norm_eps, options.norm_offset)  # noqa: E731
        if not options.post_norms_only:
            self.input_layernorm = norm()
        self.post_attention_layernorm = norm()
        self.sandwich_norms, self.post_norms_only = options.sandwich_norms, options.post_norms_only
        if options.sandwich_norms:
            self.pre_feedforward_layernorm = norm()
        if options.sandwich_norms or options.post_norms_only:
            self.post_feedforward_layernorm = norm()

    def forward(self, hidden: torch.Tensor, residual: Optional[torch.Tensor], ctx: ForwardContext, keep_rows=None):
        """-> (mlp_out, residual), each [T, H] ([R, H] for ``keep_rows``); their sum is the layer's output.

        The sum is left to the next norm, which adds and normalises in one pass (``add_rms_norm``).
        ``residual`` None: ``hidden`` is the embeddings.
        """
        if self.post_norms_only:
            return self._post_norms_forward(hidden if residual is None else hidden + residual, ctx, keep_rows)
        norm = self.input_layernorm
        if residual is None:
            residual, normed = hidden, ctx.ops.rms_norm(hidden, norm.weight, norm.eps)
        else:
            residual, normed = ctx.ops.add_rms_norm(hidden, residual, norm.weight, norm.eps)
        attn = self.self_attn(normed, ctx, keep_rows)
        if keep_rows is not None:
            residual = residual.index_select(0, keep_rows)
        norm = self.post_attention_layernorm
        if not self.sandwich_norms:
            residual, normed = ctx.ops.add_rms_norm(attn, residual, norm.weight, norm.eps)
            return self.mlp(normed, ctx.ops), residual
        # Gemma2: residual + norm(attn), then the MLP between its own pre and post norms.
        attn = ctx.ops.rms_norm(attn, norm.weight, norm.eps)
        norm = self.pre_feedforward_layernorm
        residual, normed = ctx.ops.add_rms_norm(attn, residual, norm.weight, norm.eps)
        norm = self.post_feedforward_layernorm
        return ctx.ops.rms_norm(self.mlp(normed, ctx.ops), norm.weight, norm.eps), residual

    def _post_norms_forward(self, hidden: torch.Tensor, ctx: ForwardContext, keep_rows=None):
        """OLMo 2: hidden + norm(attn(hidden)), then that + norm(mlp(that)), returned as its two terms."""
        attn = self.self_attn(hidden, ctx, keep_rows)
        if keep_rows is not None:
            hidden = hidden.index_select(0, keep_rows)
        norm = self.post_attention_layernorm
        hidden = hidden + ctx.ops.rms_norm(attn, norm.weight, norm.eps)
        norm = self.post_feedforward_layernorm
        return ctx.ops.rms_norm(self.mlp(hidden, ctx.ops), norm.weight, norm.eps), hidden


class DecoderModel(nn.Module):
    """``model.*`` of a Hugging Face decoder checkpoint: embeddings, layers, final norm."""

    layer_class = DecoderLayer  # Beam's: its own residual adds

    def __init__(self, config, options: BlockOptions) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        types = getattr(config, "layer_types", None) or [None] * config.num_hidden_layers
        self.layers = nn.ModuleList(
            self.layer_class(config, options, window, local_rope=layer_type == "sliding_attention", layer_id=i)
            for i, (window, layer_type) in enumerate(zip(layer_windows(config), types))
        )
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps, options.norm_offset)
        self.embed_scale = options.embed_scale
        self.query_temperature = options.query_temperature
        # Gemma3: global and sliding layers rotate with their own bases (and scaling).
        per_type = per_layer_type_rope(config)
        self.rotary_emb = RotaryEmbedding(config, head_dim_of(config), "full_attention" if per_type else None)
        self.local_rotary_emb = RotaryEmbedding(config, head_dim_of(config), "sliding_attention") if per_type else None
        self.ops = EAGER  # the worker swaps in compiled ones (``ModelWorker``)

    def forward(
        self, input_ids: torch.Tensor, positions: torch.Tensor, attention: BatchAttention,
        keep_rows: Optional[torch.Tensor], embed_overrides=None,
    ) -> torch.Tensor:
        """input_ids, positions [T] -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None).

        Scoring reads R << T rows, so the last layer runs its attention output, MLP and the final
        norm on those rows only (its keys and values still come from all T rows).
        ``embed_overrides``: (rows [K], vectors [K, H]) that replace those rows' token embeddings.
        """
        hidden = self.embed(input_ids, embed_overrides)  # [T, H]
        ctx = self.context(positions, hidden.dtype, attention)
        last, residual = len(self.layers) - 1, None
        for i, layer in enumerate(self.layers):
            hidden, residual = layer(hidden, residual, ctx, keep_rows if i == last else None)
        return self.ops.add_rms_norm(hidden, residual, self.norm.weight, self.norm.eps)[1]

    def embed(self, input_ids: torch.Tensor, embed_overrides=None) -> torch.Tensor:
        """input_ids [T] -> the first layer's input [T, H]."""
        hidden = self.embed_tokens(input_ids)
        if self.embed_scale is not None:  # as transformers: the scale rounded to the dtype; given vectors unscaled
            hidden = hidden * torch.tensor(self.embed_scale, dtype=hidden.dtype)
        return with_embed_overrides(hidden, embed_overrides)

    def context(self, positions: torch.Tensor, dtype: torch.dtype, attention: BatchAttention) -> "ForwardContext":
        """What every layer reads for rows at ``positions`` [T] attended through ``attention``."""
        cos, sin = self.rotary_emb.cos_sin(positions, dtype)
        local = None if self.local_rotary_emb is None else self.local_rotary_emb.cos_sin(positions, dtype)
        return ForwardContext(cos=cos, sin=sin, attention=attention, ops=self.ops, local_cos_sin=local,
                              query_scale=self._query_scale(positions, dtype))

    def _query_scale(self, positions: torch.Tensor, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """positions [T] -> [T, 1, 1] (in float32, then cast, as transformers), or None."""
        if self.query_temperature is None:
            return None
        beta, original_max = self.query_temperature
        scale = 1 + beta * torch.log(1 + torch.floor(positions.float() / original_max))
        return scale.to(dtype)[:, None, None]


def with_embed_overrides(hidden: torch.Tensor, embed_overrides) -> torch.Tensor:
    """Token embeddings [T, H] with the rows of ``embed_overrides`` (rows [K], vectors [K, H]; None: none)
    replaced, in place (SGLang's embedding overrides)."""
    if embed_overrides is not None:
        rows, vectors = embed_overrides
        hidden.index_copy_(0, rows, vectors.to(hidden.dtype))
    return hidden


# Checkpoints store q/k/v and gate/up apart; our layers fuse them (shard ids as FusedLinear's).
DECODER_PACKED_MODULES = {
    "q_proj": ("qkv_proj", "q"), "k_proj": ("qkv_proj", "k"), "v_proj": ("qkv_proj", "v"),
    "gate_proj": ("gate_up_proj", 0), "up_proj": ("gate_up_proj", 1),
}


# A decoder head's kind when its config says ``is_causal: false`` (vLLM's override for embedding
# models trained with bidirectional attention): every token sees every other.
_BIDIRECTIONAL_KINDS = {
    ModelKind.DECODER_EMBEDDING: ModelKind.ENCODER_EMBEDDING,
    ModelKind.DECODER_CLASSIFIER: ModelKind.ENCODER_CLASSIFIER,
    ModelKind.DECODER_TOKEN_CLASSIFIER: ModelKind.ENCODER_TOKEN_CLASSIFIER,
}


def _not_causal(hf_config) -> bool:
    return getattr(hf_config, "is_causal", None) is False


class DecoderForEmbedding(PoolingModel):
    """A bare decoder (``Qwen3Model`` ...): an embedding model, pooled as its sentence-transformers
    files say (default: the last token, normalised). The heads below extend it.

    Its checkpoint's tensors have no ``model.`` prefix (``weight_prefix_aliases``); a causal
    checkpoint served with ``{"architectures": ["Qwen3Model"]}`` loads too (its LM head unused).
    ``is_causal: false`` in the config (or ``--hf-overrides``) makes the embedding and classifier
    heads bidirectional (``_BIDIRECTIONAL_KINDS``), as vLLM does; no MIS then.
    """

    kind = ModelKind.DECODER_EMBEDDING
    packed_modules_mapping = DECODER_PACKED_MODULES
    weight_prefix_aliases = {"": "model."}
    options_for: staticmethod  # (config) -> BlockOptions, set by each architecture

    @classmethod
    def kind_for(cls, hf_config) -> ModelKind:
        if cls.kind.bidirectional or not _not_causal(hf_config):
            return cls.kind
        if cls.kind not in _BIDIRECTIONAL_KINDS:
            raise ValueError(f"is_causal false (bidirectional attention) applies to embedding and classifier heads; "
                             f"{cls.__name__} reads next-token probabilities, which need causal attention")
        return _BIDIRECTIONAL_KINDS[cls.kind]

    @classmethod
    def default_pooling(cls, hf_config) -> Optional[str]:
        return PoolingMethod.LAST.value if _not_causal(hf_config) else None  # made bidirectional: still its last token

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__()
        self.config = config
        self.kind = self.kind_for(config)
        self.model = self.make_body(config)
        self.pooler = embedding_pooler(pooling, PoolingMethod.LAST)

    def make_body(self, config) -> nn.Module:
        """``model.*``: called as ``DecoderModel`` is (an architecture with its own block overrides this)."""
        return DecoderModel(config, self.options_for(config))

    @staticmethod
    def output_width(config) -> int:
        """The width of the body's final hidden states, what the heads read (OPT: ``word_embed_proj_dim``)."""
        return config.hidden_size

    def hidden_states(self, batch, attention, rows):
        return self.model(batch.input_ids, batch.positions, attention, rows, batch.embed_overrides)

    def use_fused_ops(self, ops: FusedOps) -> None:
        """Eager or compiled element-wise chains (model_executor/compile.py)."""
        self.model.ops = ops


class DecoderForCausalLM(DecoderForEmbedding):
    """Next-token probabilities of label tokens at each item's last token (SGLang's /v1/score)."""

    kind = ModelKind.CAUSAL_LM

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.lm_head = nn.Linear(self.output_width(config), config.vocab_size, bias=False)
        softcap = getattr(config, "final_logit_softcapping", None)  # Gemma2
        divisor = getattr(config, "logits_scaling", None)  # Granite
        self.pooler = Pooler(PoolingMethod.LAST, LabelProbabilityHead(self.lm_head, softcap, divisor))

    def tie_weights(self) -> None:
        if getattr(self.config, "tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight


class DecoderForSequenceClassification(DecoderForEmbedding):
    """Last-token classifier: the ``score`` head [num_labels, H] at each item's last token."""

    kind = ModelKind.DECODER_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        self.score = nn.Linear(self.output_width(config), config.num_labels, bias=False)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.score, config))


class DecoderForTokenClassification(DecoderForEmbedding):
    """transformers' ``*ForTokenClassification`` of a decoder: the ``score`` head (with a bias unless
    ``token_classification_bias`` is false) on every token, each seeing the tokens before it."""

    kind = ModelKind.DECODER_TOKEN_CLASSIFIER

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config)
        bias = getattr(config, "token_classification_bias", True)
        self.score = nn.Linear(self.output_width(config), config.num_labels, bias=bias)
        self.pooler = Pooler(PoolingMethod.LAST, ClassifierHead(self.score, config))  # token requests: every row
