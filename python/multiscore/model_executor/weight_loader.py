"""Build a model and fill it from a Hugging Face checkpoint (config.json + *.safetensors, sharded too)."""

from __future__ import annotations

import glob
import json
import logging
import os
from contextlib import contextmanager
from typing import Iterator

import torch
from safetensors import safe_open
from torch import nn

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.seq_cls_conversion import converted_head
from multiscore.layers.rotary import compute_inv_freq
from multiscore.models.decoder import head_dim_of
from multiscore.models.registry import get_model_class

logger = logging.getLogger(__name__)

# Checkpoint tensors that are derived state, not weights.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)
_LM_HEAD_NAMES = ("lm_head.weight", "model.embed_tokens.weight")


def checkpoint_files(path: str) -> list[str]:
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted({os.path.join(path, name) for name in json.load(f)["weight_map"].values()})
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if not files:
        raise ValueError(f"no *.safetensors weights in {path!r}")
    return files


def iter_checkpoint(path: str) -> Iterator[tuple[str, torch.Tensor]]:
    for file in checkpoint_files(path):
        with safe_open(file, framework="pt") as f:
            for name in f.keys():
                yield name, f.get_tensor(name)


@contextmanager
def _default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _stacked_targets(model: nn.Module) -> dict[str, tuple[str, int, int]]:
    """Checkpoint prefix of a separate projection -> (fused module prefix, row start, row end)."""
    targets = {}
    for name, module in model.named_modules():
        if hasattr(module, "stacked_shards"):
            fused = {"DecoderAttention": "qkv_proj", "GatedMLP": "gate_up_proj"}[type(module).__name__]
            for shard, (lo, hi) in module.stacked_shards().items():
                targets[f"{name}.{shard}"] = (f"{name}.{fused}", lo, hi)
    return targets


def load_model(model_config: ModelConfig, device: torch.device, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    cls = get_model_class(model_config.architecture)
    with torch.device("meta"), _default_dtype(dtype):
        model = cls(model_config.hf_config)
    model = model.to_empty(device=device)
    # Non-persistent buffers (rotary inv_freq) were made on meta: rebuild them for real.
    rotary = getattr(getattr(model, "model", None), "rotary_emb", None)
    if rotary is not None:
        rotary.inv_freq = compute_inv_freq(model_config.hf_config, head_dim_of(model_config.hf_config))[0].to(device)

    params = dict(model.named_parameters(remove_duplicate=False))
    stacked = _stacked_targets(model)
    loaded: set[str] = set()
    conversion = model_config.head_conversion
    lm_head_sources: dict[str, torch.Tensor] = {}  # conversion only: name -> its rows of the conversion tokens [k, H]
    for name, tensor in iter_checkpoint(model_config.path):
        if name.endswith(_IGNORED_SUFFIXES):
            continue
        if conversion is not None and name in _LM_HEAD_NAMES:
            lm_head_sources[name] = tensor[list(conversion.token_ids)].clone()  # [k, H]
        name = _model_name_of(name, params, stacked)
        prefix, _, leaf = name.rpartition(".")
        if prefix in stacked:
            fused, lo, hi = stacked[prefix]
            target, rows = f"{fused}.{leaf}", slice(lo, hi)
        else:
            target, rows = name, slice(None)
        if target not in params:
            logger.debug("checkpoint tensor %s is not used by %s", name, model_config.architecture)
            continue
        dst = params[target].data[rows]
        if dst.shape != tensor.shape:
            raise ValueError(f"checkpoint tensor {name} has shape {tuple(tensor.shape)}, expected {tuple(dst.shape)}")
        dst.copy_(tensor)
        loaded.add(target if rows == slice(None) else f"{target}[{lo}:{hi}]")

    if conversion is not None:
        _convert_head(model, lm_head_sources, conversion)
        loaded.add("score.weight")
    _drop_unloaded_pooler(model, params, loaded)
    _init_missing_head(model, params, loaded, seed)
    _check_complete(model, params, loaded, stacked)
    if getattr(model_config.hf_config, "tie_word_embeddings", False) and hasattr(model, "lm_head"):
        model.lm_head.weight = model.model.embed_tokens.weight
    return model.eval()


def _model_name_of(name: str, params: dict, stacked: dict) -> str:
    """A checkpoint tensor's name in our model: as is, with the ``model.`` prefix a bare decoder
    checkpoint lacks, or without a wrapper prefix (``bert.``) a bare encoder does not have."""
    for candidate in (name, "model." + name, name.partition(".")[2]):
        if candidate in params or candidate.rpartition(".")[0] in stacked:
            return candidate
    return name


def _drop_unloaded_pooler(model: nn.Module, params: dict, loaded: set[str]) -> None:
    """A bare encoder's pooler (dense + tanh on [CLS]) is optional in checkpoints and never used
    for embeddings: without its weights, drop it rather than call the checkpoint incomplete."""
    if getattr(model, "pooler", None) is not None and not any(k.startswith("pooler.") for k in loaded):
        model.pooler = None
        for name in [n for n in params if n.startswith("pooler.")]:
            del params[name]


def _convert_head(model: nn.Module, sources: dict[str, torch.Tensor], conversion) -> None:
    """The score head from the LM head's rows (the embedding's when the checkpoint ties them)."""
    tied = getattr(model.config, "tie_word_embeddings", False)
    name = "lm_head.weight" if "lm_head.weight" in sources and not tied else "model.embed_tokens.weight"
    if name not in sources:
        raise ValueError("classifier_from_token needs the LM head, but the checkpoint has none")
    model.score.weight.data.copy_(converted_head(sources[name], conversion))
    logger.info("score head built from tokens %s (%s)", list(conversion.tokens), conversion.method)


def _init_missing_head(model: nn.Module, params: dict, loaded: set[str], seed: int) -> None:
    """A causal checkpoint turned classifier by overrides has no ``score`` head: initialise it, seeded."""
    if hasattr(model, "score") and "score.weight" not in loaded:
        gen = torch.Generator().manual_seed(seed)
        std = getattr(model.config, "initializer_range", 0.02)
        weight = torch.randn(model.score.weight.shape, generator=gen) * std
        model.score.weight.data.copy_(weight)
        loaded.add("score.weight")
        logger.warning("checkpoint has no score head; initialised one with %d labels (seed %d)", weight.shape[0], seed)


def _check_complete(model: nn.Module, params: dict, loaded: set[str], stacked: dict) -> None:
    fused_parts: dict[str, int] = {}
    for key in loaded:
        if "[" in key:
            fused_parts[key.split("[")[0]] = fused_parts.get(key.split("[")[0], 0) + 1
    tied = getattr(model.config, "tie_word_embeddings", False)
    missing = []
    for name in params:
        if name in loaded:
            continue
        expected_parts = sum(1 for f, _, _ in stacked.values() if name.startswith(f + "."))
        if expected_parts and fused_parts.get(name, 0) == expected_parts:
            continue
        if name == "lm_head.weight" and tied:
            continue
        missing.append(name)
    if missing:
        raise ValueError(f"checkpoint is missing {len(missing)} weights, e.g. {missing[:3]}")
