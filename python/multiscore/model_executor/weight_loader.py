"""Build a model and fill it from a Hugging Face checkpoint (config.json + *.safetensors or pytorch_model.bin,
sharded too: checkpoint_files.py).

What goes where is declared by the model class (models/base.py): ``packed_modules_mapping`` sends
a checkpoint's separate q/k/v (or gate/up) tensors to one fused layer's ``weight_loader``, with a
shard id; ``weight_prefix_aliases`` maps a checkpoint's name prefix to ours; ``tie_weights`` shares
what the config ties. Every parameter (every shard of a fused one) must be filled exactly once.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Hashable
from contextlib import contextmanager
from typing import Optional

import torch
from torch import nn

from multiscore.model_executor.lora_adapters import load_lora_adapters
from multiscore.configs.model_config import ModelConfig
from multiscore.configs.seq_cls_conversion import converted_head
from multiscore.layers.linear import Linear
from multiscore.layers.pooler import EmbeddingHead
from multiscore.model_executor.checkpoint_files import iter_checkpoint
from multiscore.model_executor import bitnet, bnb4bit, compressed_tensors
from multiscore.model_executor.fp8 import FP8_DTYPES, fp8_block, fp8_dequantized_tensors
from multiscore.model_executor.mxfp4 import dequantized_tensors
from multiscore.models.base import PoolingModel
from multiscore.models.registry import get_model_class

logger = logging.getLogger(__name__)

_LM_HEAD_NAMES = ("lm_head.weight", "model.embed_tokens.weight")


@contextmanager
def _default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


# The nn.init functions modules call in their constructors (reset_parameters).
_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_")


@contextmanager
def _no_weight_init():
    """Modules' own initialisation skipped while the model is built on the meta device.

    Meta tensors hold no values, so the init has nothing to do; but torch runs ``normal_`` on meta
    (nn.Embedding's) through a Python decomposition that imports torch._dynamo: ~1.5 s of every
    start-up, for nothing. Every weight is then filled from the checkpoint (or ``_init_missing_head``).
    Not transformers' ``no_init_weights``: it imports transformers.modeling_utils (~3 s here).
    """
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name in saved:
        setattr(nn.init, name, _leave_unchanged)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _leave_unchanged(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return tensor


def load_model(model_config: ModelConfig, device: torch.device, dtype: torch.dtype, seed: int = 0) -> PoolingModel:
    cls = get_model_class(model_config.architecture)
    with torch.device("meta"), _default_dtype(dtype), _no_weight_init():
        model = cls(model_config.hf_config, model_config.pooling)
    # Storage for every weight, filled below: model.to_empty(device), whose torch.empty_like on meta
    # tensors imports torch.fx's symbolic shapes (~0.6 s of start-up); torch.empty of each shape does not.
    model = model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device=device))
    model.tie_weights()
    params = dict(model.named_parameters())  # a tied weight is listed once
    loaded: set[tuple[str, Optional[Hashable]]] = set()  # (parameter, shard id or None)
    conversion = model_config.head_conversion
    lm_head_rows: dict[str, torch.Tensor] = {}  # conversion only: name -> its rows of the conversion tokens [k, H]
    adapters: dict[str, dict[str, torch.Tensor]] = {}  # our weight -> {role: tensor} (adapter_suffixes)
    tensors = iter_checkpoint(model_config.path)
    if model_config.quantization == "mxfp4":
        tensors = dequantized_tensors(tensors)
    elif model_config.quantization == "fp8":
        tensors = fp8_dequantized_tensors(tensors, fp8_block(model_config.hf_config.quantization_config))
    quantized: set[str] = set()  # compressed-tensors, BitNet: the checkpoint names of the weights read quantized
    if model_config.quantization == "compressed-tensors":
        quant = model_config.hf_config.quantization_config
        packed = compressed_tensors.packed_bits(quant)
        tensors = (compressed_tensors.unpacked_tensors(tensors, quantized, *packed) if packed is not None
                   else compressed_tensors.dequantized_tensors(tensors, quantized, compressed_tensors.weight_block(quant)))
    if model_config.quantization == "bitsandbytes":
        tensors = bnb4bit.dequantized_tensors(tensors, model_config.hf_config.quantization_config)
    if model_config.quantization == "bitnet":
        tensors = bitnet.dequantized_tensors(tensors, model_config.hf_config.quantization_config,
                                             lambda name: _is_projection(model, name, params, model_config), quantized)
    unexpected: list[str] = []  # a weight or bias of one of our modules that the module does not have
    for name, tensor in itertools.chain(tensors, _extra_weights(model, model_config.path)):
        name = _with_prefixes(name, model_config.checkpoint_prefixes)
        if conversion is not None and name == "lm_head.bias":
            raise ValueError("classifier_from_token builds the classifier from the LM head's rows, and this checkpoint's "
                             "LM head has a bias (Phi's) that the classifier would drop: not supported")
        head_name = name if name in _LM_HEAD_NAMES else _renamed(model, name)  # Mamba's backbone.embeddings
        if conversion is not None and head_name in _LM_HEAD_NAMES:
            lm_head_rows[head_name] = tensor[list(conversion.token_ids)].clone()  # [k, H]
        if _take_adapter(model, name, tensor, params, adapters):
            continue
        target = _target_of(model, name, params)
        if target is None:
            logger.debug("checkpoint tensor %s is not used by %s", name, model_config.architecture)
            if _unexpected_parameter(model, name):
                unexpected.append(name)
            continue
        if tensor.dtype in FP8_DTYPES:  # cast as it is, an FP8 weight would load without its scales: wrong numbers
            raise ValueError(f"checkpoint tensor {name} is FP8, and the config has no FP8 quantization_config "
                             "(quant_method 'fp8') to dequantize it by")
        try:
            _load_one(model, params[target[0]], *target, tensor)
        except ValueError as e:
            raise ValueError(f"checkpoint tensor {name}: {e}") from None
        loaded.add(target)
    if unexpected:  # a config that disagrees with its weights (a bias the config says is absent ...) scores wrongly
        logger.warning("%d checkpoint tensors belong to modules of %s that have no such parameter, and are not used "
                       "(does the config match the weights?): %s", len(unexpected), model_config.architecture,
                       ", ".join(unexpected[:5]))
    if quantized:
        _quantize_inputs(model, model_config, quantized, params)
    if conversion is not None:
        _convert_head(model, lm_head_rows, conversion)
        loaded.add(("score.weight", None))
    _init_missing_head(model, loaded, seed)
    _fill_absent_defaults(model, params, loaded)
    _check_complete(model, params, loaded)
    if adapters:
        model.take_adapters(adapters)
    if model_config.lora_adapters:  # PEFT LoRA adapters, chosen per request
        attach_lora_adapters(model, model_config, model_config.lora_adapters)
    head = getattr(getattr(model, "pooler", None), "head", None)
    if isinstance(head, EmbeddingHead):  # sentence-transformers Dense layers, beside the checkpoint
        head.load_dense(model_config.path, device)
    return model.eval()


def _quantize_inputs(model: PoolingModel, model_config: ModelConfig, quantized: set[str], params: dict) -> None:
    """A W8A8 checkpoint: each product whose weight was read quantized quantizes its input per token
    (``Linear.input_quant``) as compressed-tensors computes it."""
    kind = (bitnet.ACTIVATION_KIND if model_config.quantization == "bitnet"
            else compressed_tensors.activation_kind(model_config.hf_config.quantization_config))
    if kind is None:  # weights only (W8A16)
        return
    for name in sorted(quantized):
        target = _target_of(model, _with_prefixes(name, model_config.checkpoint_prefixes), params)
        if target is None:
            continue
        module = model.get_submodule(target[0].rpartition(".")[0])
        if not isinstance(module, Linear):
            raise ValueError(f"checkpoint tensor {name}: activation quantization of {type(module).__name__} "
                             "(not a linear layer here) is not supported")
        group = kind[1]
        if group is not None and module.in_features % group:
            raise ValueError(f"checkpoint tensor {name}: {module.in_features} input columns do not split into "
                             f"activation groups of {group}")
        module.input_quant = kind


def _is_projection(model: PoolingModel, name: str, params: dict, model_config: ModelConfig) -> bool:
    """Whether checkpoint tensor ``name`` is the weight of one of the model's projections (a ``Linear``;
    heads are plain nn.Linear)."""
    target = _target_of(model, _with_prefixes(name, model_config.checkpoint_prefixes), params)
    if target is None or not target[0].endswith(".weight"):
        return False
    return isinstance(model.get_submodule(target[0].rpartition(".")[0]), Linear)


def attach_lora_adapters(model: PoolingModel, model_config: ModelConfig, adapters: tuple) -> None:
    """PEFT LoRA adapters [(name, path)] onto ``model``, their modules named as checkpoint tensors are."""
    params = dict(model.named_parameters())
    load_lora_adapters(model, adapters, lambda name: _target_of(model, name, params),
                       lambda name: _with_prefixes(name, model_config.checkpoint_prefixes))


def _with_prefixes(name: str, prefixes: dict[str, str]) -> str:
    """A checkpoint name under its model's names: the first of ``prefixes`` it starts with, replaced."""
    for src, dst in prefixes.items():
        if name.startswith(src):
            return dst + name[len(src):]
    return name


def _extra_weights(model: PoolingModel, path: str):
    """(name, tensor) from the model's own PyTorch files beside the checkpoint (``extra_weight_files``)."""
    for file, prefix in model.extra_weight_files.items():
        full = os.path.join(path, file)
        if not os.path.exists(full):
            raise ValueError(f"{type(model).__name__} needs {file} beside the checkpoint, and {path!r} has none")
        try:
            state = torch.load(full, map_location="cpu", weights_only=True)
        except Exception as e:  # an object weights_only refuses, or a corrupt file
            raise ValueError(f"cannot read {full!r} as plain tensors: {e}") from None
        for key, tensor in state.items():
            yield prefix + key, tensor


def _take_adapter(model: PoolingModel, name: str, tensor: torch.Tensor, params: dict, adapters: dict) -> bool:
    """True when ``name`` is an adapter tensor (``adapter_suffixes``): kept under the weight it adapts
    (dropped, as an unused weight is, when the model has no such weight)."""
    for suffix, role in model.adapter_suffixes.items():
        if name.endswith(suffix):
            target = _target_of(model, name[: -len(suffix)] + ".weight", params)
            if target is not None:
                if target[1] is not None:
                    raise ValueError(f"checkpoint tensor {name}: an adapter of one shard of {target[0]} is not supported")
                adapters.setdefault(target[0], {})[role] = tensor
            return True
    return False


def _renamed(model: PoolingModel, name: str) -> str:
    """A checkpoint name under the model's ``weight_renames`` (Mamba's ``backbone.embeddings`` -> ``model.embed_tokens``),
    after its ``renamed_checkpoint_tensor`` where it has one (a rename no substring states: Dory's layer pairs)."""
    custom = getattr(model, "renamed_checkpoint_tensor", None)
    if custom is not None:
        name = custom(name)
    for src, dst in model.weight_renames.items():
        name = name.replace(src, dst)
    return name


def _target_of(model: PoolingModel, name: str, params: dict) -> Optional[tuple[str, Optional[Hashable]]]:
    """A checkpoint tensor -> (our parameter, shard id), or None when the model has no use for it."""
    name = _renamed(model, name)
    candidates = [name] + [dst + name[len(src):] for src, dst in model.weight_prefix_aliases.items() if name.startswith(src)]
    for candidate in candidates:
        parts = candidate.split(".")
        for i, part in enumerate(parts):
            if part in model.packed_modules_mapping:  # e.g. ...self_attn.k_proj.weight -> ...self_attn.qkv_proj.weight, "k"
                fused, shard_id = model.packed_modules_mapping[part]
                fused_name = ".".join(parts[:i] + [fused] + parts[i + 1:])
                if fused_name in params:
                    # A shard the layer has no rows for is not used (Gemma 4's global layers take
                    # values from k_proj, its KV-sharing layers no k/v at all).
                    layer = model.get_submodule(fused_name.rpartition(".")[0])
                    return (fused_name, shard_id) if shard_id in layer.shard_rows else None
        if candidate in params:
            return candidate, None
    return None


def _unexpected_parameter(model: PoolingModel, name: str) -> bool:
    """True for a checkpoint ``*.weight`` / ``*.bias`` whose module is one of ours (under the model's
    renames, prefix aliases and fused projections) but has no such parameter: e.g. an o_proj bias, or
    q/k/v biases (into our fused qkv_proj), that the config says the attention has not."""
    module_name, _, leaf = _renamed(model, name).rpartition(".")
    if leaf not in ("weight", "bias"):
        return False
    candidates = [module_name] + [dst + module_name[len(src):] for src, dst in model.weight_prefix_aliases.items()
                                  if module_name.startswith(src)]
    last = module_name.rpartition(".")[2]
    if last in model.packed_modules_mapping:  # q_proj -> qkv_proj ...
        fused = model.packed_modules_mapping[last][0]
        candidates += [c.rpartition(".")[0] + "." + fused for c in candidates]
    for candidate in candidates:
        try:
            module = model.get_submodule(candidate)
        except AttributeError:
            continue
        return isinstance(module, nn.Linear) and getattr(module, leaf, None) is None
    return False


def _load_one(model: nn.Module, param: nn.Parameter, name: str, shard_id: Optional[Hashable], tensor: torch.Tensor) -> None:
    if shard_id is not None:
        model.get_submodule(name.rpartition(".")[0]).weight_loader(param, tensor, shard_id)
        return
    module = model.get_submodule(name.rpartition(".")[0])
    if tensor.dim() >= 2 and (getattr(module, "load_transposed", False)  # Linear's (GPT-2's Conv1D [in, out])
                              or (getattr(module, "either_orientation", False) and tensor.shape != param.shape)):
        tensor = tensor.transpose(-1, -2)
    if param.shape != tensor.shape:
        raise ValueError(f"shape {tuple(tensor.shape)}, but {name} is {tuple(param.shape)}")
    order = getattr(module, "load_row_order", None)  # Linear's (Qwen3-Next's per-key-head fused projections)
    param.data.copy_(tensor if order is None else tensor.index_select(0, order))
    offset = getattr(module, "weight_offset", 0.0)  # RMSNorm's (Gemma)
    if offset:
        param.data.add_(offset)
    scale = getattr(module, "output_scale", None)  # Linear's (Granite's residual multiplier)
    if scale is not None:
        param.data.mul_(scale)


def _convert_head(model: nn.Module, sources: dict[str, torch.Tensor], conversion) -> None:
    """The score head from the LM head's rows (the embedding's when the checkpoint ties them)."""
    tied = getattr(model.config, "tie_word_embeddings", False)
    name = "lm_head.weight" if "lm_head.weight" in sources and not tied else "model.embed_tokens.weight"
    if name not in sources:
        raise ValueError("classifier_from_token needs the LM head, but the checkpoint has none")
    rows = sources[name].float() / float(getattr(model.config, "logits_scaling", None) or 1.0)  # Granite's logits / it
    model.score.weight.data.copy_(converted_head(rows, conversion))
    logger.info("score head built from tokens %s (%s)", list(conversion.tokens), conversion.method)


def _init_missing_head(model: nn.Module, loaded: set, seed: int) -> None:
    """A causal checkpoint turned classifier by overrides has no ``score`` head: initialise it, seeded."""
    if isinstance(getattr(model, "score", None), nn.Linear) and ("score.weight", None) not in loaded:  # not an MLP head
        gen = torch.Generator().manual_seed(seed)
        std = getattr(model.config, "initializer_range", 0.02)
        weight = torch.randn(model.score.weight.shape, generator=gen) * std
        model.score.weight.data.copy_(weight)
        loaded.add(("score.weight", None))
        logger.warning("checkpoint has no score head; initialised one with %d labels (seed %d)", weight.shape[0], seed)


def _fill_absent_defaults(model: nn.Module, params: dict, loaded: set) -> None:
    """A weight that checkpoints may leave out (its module's ``absent_defaults``: name -> value; A.X K1's
    router bias) takes that value when the checkpoint has none."""
    for name, param in params.items():
        module_name, _, leaf = name.rpartition(".")
        default = getattr(model.get_submodule(module_name), "absent_defaults", {}).get(leaf)
        if default is not None and (name, None) not in loaded:
            param.data.fill_(default)
            loaded.add((name, None))


def _check_complete(model: nn.Module, params: dict, loaded: set) -> None:
    missing = []
    for name in params:
        layer = model.get_submodule(name.rpartition(".")[0])
        shards = getattr(layer, "shard_rows", None) or {None: None}  # a fused layer expects every shard ...
        if (name, None) in loaded:  # ... unless the checkpoint fused them already (Phi3's qkv_proj)
            continue
        missing += [name if shard is None else f"{name} ({shard})" for shard in shards if (name, shard) not in loaded]
    if missing:
        raise ValueError(f"checkpoint is missing {len(missing)} weights, e.g. {missing[:3]}")
