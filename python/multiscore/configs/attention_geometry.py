"""What a checkpoint's attention looks like, read from its config: how many positions its embeddings can number, its
sliding windows and where its attention stops being dense, the context all that allows, and its heads' widths and
per-layer shapes (the attention backends, the prefix cache and the models read these)."""

from __future__ import annotations

from typing import Optional

from multiscore.configs.pooling_config import PoolingConfig


# Encoders whose learned position table is a hard limit on a sequence's length; the RoBERTa-style
# ones (and MPNet) number positions after the padding index, which the table reserves.
_POSITIONS_AFTER_PADDING = ("roberta", "xlm-roberta", "camembert", "data2vec-text", "ibert", "longformer", "luke", "xmod", "mpnet")
_POSITIONS_FROM_ZERO = ("bert", "convbert", "electra", "distilbert", "fnet", "modernbert", "gpt2", "openai-gpt", "ctrl", "opt")  # OPT's table has its offset of 2 beside


def position_limit(hf_config) -> Optional[int]:
    """The most tokens the checkpoint's position embeddings can number, or None where positions
    are rotary or relative (decoders, NomicBERT, DeBERTa-v3) and set no hard limit (a rotary that
    changes with the sequence's length: its static range)."""
    max_pos = getattr(hf_config, "max_position_embeddings", None)
    model_type = getattr(hf_config, "model_type", "")
    if not max_pos or max_pos < 0:  # XLNet's -1: no limit
        return None
    if model_type in _POSITIONS_AFTER_PADDING:
        return max_pos - (hf_config.pad_token_id + 1)
    if model_type in _POSITIONS_FROM_ZERO or (model_type == "deberta-v2" and getattr(hf_config, "position_biased_input", True)):
        return max_pos
    return static_rope_range(hf_config)


def static_rope_range(hf_config) -> Optional[int]:
    """The length up to which a rotary that changes with the sequence's length stays what is served
    (layers/rotary.py), or None for any other: dynamic NTK (InternLM2 and others) grows its base past
    ``max_position_embeddings``; LongRoPE (Phi-3.5, Phi-4-mini, MiniCPM4) trades its short factors
    for its long ones past ``original_max_position_embeddings``."""
    params = getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None) or {}
    rope_type = (params.get("rope_type") or params.get("type")) if isinstance(params, dict) else None
    if rope_type == "dynamic" and not params.get("alpha"):  # with alpha: HunYuan's fixed NTK base, static
        return getattr(hf_config, "max_position_embeddings", None)
    if rope_type == "longrope":
        return params.get("original_max_position_embeddings") or getattr(hf_config, "original_max_position_embeddings", None)
    return None


def default_context_length(hf_config, pooling: Optional[PoolingConfig]) -> int:
    max_pos = position_limit(hf_config) or max(getattr(hf_config, "max_position_embeddings", None) or 0, 0) or 2048
    # sentence-transformers' own limit; pylate writes its last length there and cuts by its own settings.
    if pooling is not None and pooling.max_seq_length and pooling.late_interaction is None:
        max_pos = min(max_pos, pooling.max_seq_length)
    return max_pos


def sliding_window_of(hf_config) -> Optional[int]:
    """The attention window of a checkpoint's sliding layers, or None: a token at position p sees
    the keys at positions p-W+1..p (transformers' ``kv_idx > q_idx - sliding_window``); in
    ModernBERT's bidirectional local layers, those at p-W..p+W (W = local_attention // 2; Longformer's:
    W = attention_window // 2, of its narrowest layer)."""
    window = getattr(hf_config, "sliding_window", None)
    if window is None and getattr(hf_config, "local_attention", None):  # ModernBERT under transformers 4.x
        window = hf_config.local_attention // 2
    if window is None and getattr(hf_config, "model_type", None) == "longformer":  # per layer: the narrowest
        windows = hf_config.attention_window
        window = min(windows if isinstance(windows, (list, tuple)) else [windows]) // 2
    if not window:
        return None
    if hasattr(hf_config, "use_sliding_window") and not hf_config.use_sliding_window:  # Qwen2/3: off by default
        return None
    return int(window)


def layer_windows(hf_config) -> list[Optional[int]]:
    """Each layer's attention window (None: full attention). ``layer_types`` (Gemma2, Qwen2 ...)
    names the sliding layers; without it (Mistral) every layer slides."""
    window = sliding_window_of(hf_config)
    n = hf_config.num_hidden_layers
    if window is None:
        return [None] * n
    types = getattr(hf_config, "layer_types", None)
    if types:
        return [window if t == "sliding_attention" else None for t in types[:n]]
    return [window] * n


def dense_attention_limit(hf_config) -> Optional[tuple[int, str]]:
    """(length, what) up to which a model whose attention hides keys by a rule not implemented here sees
    every key, or None. Llama 4's ``chunked_attention`` layers (``attention_chunk_size``: a token sees
    only keys in its own chunk of positions); DeepSeek Sparse Attention (DeepSeek-V3.2, GLM-5:
    ``index_topk``, each token attends to the top-k keys its indexer picks; up to k keys, all of them);
    BigBird's block-sparse attention (transformers runs full attention up to (5 + 2·random blocks)·block size)."""
    chunk = getattr(hf_config, "attention_chunk_size", None)
    if chunk and "chunked_attention" in (getattr(hf_config, "layer_types", None) or []):
        return int(chunk), "attention chunk"
    topk = getattr(hf_config, "index_topk", None)
    if topk and getattr(hf_config, "index_n_heads", None):
        return int(topk), "sparse attention's top-k (index_topk)"
    if getattr(hf_config, "attention_type", None) == "block_sparse" and getattr(hf_config, "block_size", None):
        return (5 + 2 * int(hf_config.num_random_blocks)) * int(hf_config.block_size), "block-sparse attention's full span"
    return None


def context_length_of(hf_config, pooling: Optional[PoolingConfig], requested: Optional[int],
                      attention_backend: Optional[str]) -> int:
    """--context-length, or the checkpoint's. The torch backend implements sliding windows; FlashInfer
    does not yet, so with it the context stops at the window, below which a window hides no key.
    Neither implements chunked nor sparse attention: the context stops where they start hiding keys
    (dense_attention_limit)."""
    limit = position_limit(hf_config)
    if requested is not None and limit is not None and requested > limit:
        if static_rope_range(hf_config) is not None:
            raise ValueError(f"--context-length {requested} exceeds the {limit} positions served: past them the "
                             f"model's rotary changes its frequencies with the sequence's length, which is not supported")
        raise ValueError(f"--context-length {requested} exceeds the {limit} positions the model's position embeddings "
                         f"can number (max_position_embeddings {hf_config.max_position_embeddings})")
    length = requested or default_context_length(hf_config, pooling)
    dense = dense_attention_limit(hf_config)
    if dense is not None and length > dense[0]:
        if requested is not None:
            raise ValueError(f"--context-length {requested} exceeds the model's {dense[1]} of {dense[0]} tokens: past "
                             "it the attention hides keys, which is not implemented (below it, it hides none)")
        length = dense[0]
    window = sliding_window_of(hf_config)
    if attention_backend != "flashinfer" or window is None or length <= window:
        return length
    if requested is not None:
        raise ValueError(f"--context-length {requested} exceeds the model's sliding window of {window} tokens, "
                         "which the FlashInfer backend does not implement yet (the torch backend does)")
    return window


def head_dim_of(hf_config) -> int:
    """The width of each head's keys (and values, as the backends hold them). MLA configs (MiniCPM3)
    keep ``head_dim`` for the rotated part alone; their keys are ``qk_head_dim`` wide. ALiBi models'
    heads carry ALIBI_DIMS more (layers/alibi.py); DiffLlama's twice its head_dim."""
    width = (getattr(hf_config, "qk_head_dim", None) or getattr(hf_config, "head_dim", None)
             or hf_config.hidden_size // hf_config.num_attention_heads)
    if uses_alibi(hf_config):
        from multiscore.layers.alibi import ALIBI_DIMS

        width += ALIBI_DIMS
    if getattr(hf_config, "model_type", None) == "diffllama":  # two values per key, keys padded (models/diffllama.py)
        width *= 2
    return width


def uses_alibi(hf_config) -> bool:
    """BLOOM's and MPT's attention: scores biased by key position (layers/alibi.py). (Falcon's ``alibi`` is refused.)"""
    return getattr(hf_config, "model_type", None) in ("bloom", "mpt")


def layer_config(hf_config, layer: int):
    """Layer ``layer``'s view of the config: transformers' per-layer overrides where the config has
    them (Gemma 4's global layers: their own head_dim and kv heads), else the config itself."""
    return hf_config.per_layer_config[layer] if getattr(hf_config, "is_heterogeneous", False) else hf_config


def kv_layer_shapes(hf_config) -> list[tuple[int, int]]:
    """(kv_heads, head_dim) of each layer that computes keys and values, in order: the prefix
    cache's layers. Gemma 4's last ``num_kv_shared_layers`` layers compute none (they reuse earlier ones')."""
    shapes = []
    for i in range(hf_config.num_hidden_layers - (getattr(hf_config, "num_kv_shared_layers", 0) or 0)):
        layer = layer_config(hf_config, i)
        shapes.append((getattr(layer, "num_key_value_heads", None) or layer.num_attention_heads, head_dim_of(layer)))
    return shapes
