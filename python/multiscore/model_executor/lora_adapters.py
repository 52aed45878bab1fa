"""PEFT LoRA adapters beside the base model, chosen per request (vLLM's ``--lora-modules``, SGLang's
``--lora-paths``), over one copy of the base weights (layers/task_adapters.py).

An adapter directory is what PEFT saves: ``adapter_config.json`` (``r``, ``lora_alpha``,
``use_rslora``, ``target_modules``) and ``adapter_model.safetensors`` (or ``.bin``) with
``base_model.model.<module>.lora_A.weight`` [r, in] and ``lora_B.weight`` [out, r] per adapted Linear.
Each module name is mapped onto ours as a checkpoint tensor is (renames, prefixes, fused layers): a
LoRA on ``q_proj`` adds to the q rows of our fused ``qkv_proj``, in the order those rows load (their
row orders and output scales apply to B as to the weight). Per Linear, the adapters' terms are stacked
[N, R, in] / [N, out, R] (R: the largest rank there, the others padded with zeros), B scaled by
``lora_alpha / r`` (``/ sqrt(r)`` with ``use_rslora``).

``modules_to_save`` that are the classifier head (``score``, ``classifier``, DistilBERT's
``pre_classifier``: PEFT saves them for ``SEQ_CLS``) are that adapter's head: its tensors
(``base_model.model.score.weight``) replace the head's for its sequences (``PoolingModel.head_overrides``).

Refused with the reason, at start-up: DoRA, biases, per-module rank or alpha patterns, adapters on
embeddings, on mixture-of-experts experts (they see a token subset, not the batch) or on a head's own
layers (BERT's pooler: the pooled rows), and other ``modules_to_save`` (a body module trained in full:
merge the adapter into a checkpoint).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict

import torch
from torch import nn

from multiscore.layers.linear import Linear
from multiscore.layers.task_adapters import AdapterRows, LinearTaskAdapters

_PEFT_PREFIX = "base_model.model."
_ROLES = {".lora_A.weight": "A", ".lora_B.weight": "B"}
# modules_to_save an adapter may bring: the classifier heads (read after the body, once per sequence).
# PEFT's own list (0.22: CLASSIFIER_MODULE_NAMES), which names DistilBERT's pre_classifier since it is
# part of that head; a name the model lacks brings no tensors.
HEAD_MODULES = ("score", "classifier", "pre_classifier")


def read_adapter_config(name: str, path: str) -> dict:
    """adapter_config.json, checked for what is served; ValueError naming the adapter otherwise."""
    file = os.path.join(path, "adapter_config.json")
    if not os.path.isfile(file):
        raise ValueError(f"LoRA adapter {name!r}: {path!r} has no adapter_config.json (a PEFT adapter directory)")
    with open(file, encoding="utf-8") as f:
        config = json.load(f)
    problems = []
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        problems.append(f"peft_type {config.get('peft_type')!r} (only LORA)")
    if config.get("use_dora"):
        problems.append("use_dora (DoRA)")
    if config.get("bias", "none") != "none":
        problems.append(f"bias {config.get('bias')!r} (only 'none')")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        problems.append("rank_pattern / alpha_pattern (one rank and alpha for every module)")
    body_modules = [m for m in config.get("modules_to_save") or [] if m not in HEAD_MODULES]
    if body_modules:
        problems.append(f"modules_to_save {body_modules} (a body module trained in full: merge the adapter into a "
                        "checkpoint and serve that; a classifier head, score or classifier, is served)")
    if problems:
        raise ValueError(f"LoRA adapter {name!r} is not served: {'; '.join(problems)}")
    return config


def _adapter_tensors(name: str, path: str) -> dict[str, torch.Tensor]:
    st, bin_ = os.path.join(path, "adapter_model.safetensors"), os.path.join(path, "adapter_model.bin")
    if os.path.isfile(st):
        from safetensors.torch import load_file

        return load_file(st)
    if os.path.isfile(bin_):
        return torch.load(bin_, map_location="cpu", weights_only=True)
    raise ValueError(f"LoRA adapter {name!r}: {path!r} has no adapter_model.safetensors or adapter_model.bin")


def load_lora_adapters(model: nn.Module, adapters: tuple[tuple[str, str], ...], target_of, prefixes) -> None:
    """Attach ``adapters`` [(name, path)] to ``model``'s Linears; adapter i is PoolingParams.adapter i.
    ``target_of(name) -> (parameter, shard id) | None`` and ``prefixes(name) -> name`` map a
    checkpoint name onto the model's (weight_loader's rules)."""
    if getattr(model, "adapter_rows", None) is not None:
        raise ValueError(f"{type(model).__name__} chooses its own task adapters per request; it takes no LoRA adapters")
    terms: dict[str, list] = defaultdict(lambda: [[] for _ in adapters])  # Linear -> per adapter [(A, B)]
    heads: dict[int, dict[str, torch.Tensor]] = {}  # adapter -> our head parameter -> its tensor
    params = dict(model.named_parameters())
    for index, (name, path) in enumerate(adapters):
        config = read_adapter_config(name, path)
        rank, alpha = int(config["r"]), float(config.get("lora_alpha", config["r"]))
        scaling = alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
        pairs: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
        for key, tensor in _adapter_tensors(name, path).items():
            role = next((r for suffix, r in _ROLES.items() if key.endswith(suffix)), None)
            if role is None:
                param = _head_parameter(name, key.removeprefix(_PEFT_PREFIX), tensor, target_of, prefixes, params)
                heads.setdefault(index, {})[param] = tensor.to(params[param].device, params[param].dtype)
                continue
            module = key[: -len(".lora_A.weight")]
            pairs[module.removeprefix(_PEFT_PREFIX)][role] = tensor
        for module, pair in pairs.items():
            linear, a, b = _placed(model, name, module, pair, target_of, prefixes)
            terms[linear][index].append((a.float(), b.float() * scaling))
    rows = AdapterRows()
    for linear_name, per_adapter in terms.items():
        linear = model.get_submodule(linear_name)
        stacked = [(torch.cat([a for a, _ in t]), torch.cat([b for _, b in t], dim=1)) if t else None for t in per_adapter]
        width = max(a.shape[0] for a, _ in filter(None, stacked))
        lora_a = torch.zeros(len(adapters), width, linear.in_features)
        lora_b = torch.zeros(len(adapters), linear.out_features, width)
        for i, pair in enumerate(stacked):
            if pair is not None:
                lora_a[i, : pair[0].shape[0]], lora_b[i, :, : pair[1].shape[1]] = pair
        weight = linear.weight
        device = weight.device if weight.device.type != "meta" else torch.device("cpu")
        linear.task_adapters = LinearTaskAdapters(lora_a.to(device, weight.dtype), lora_b.to(device, weight.dtype), rows)
    model.adapter_rows = rows
    model.head_overrides = heads


def _head_parameter(adapter: str, key: str, tensor: torch.Tensor, target_of, prefixes, params: dict) -> str:
    """A saved module's tensor (``score.weight``) -> the head parameter it replaces."""
    if key.split(".")[0] not in HEAD_MODULES:
        raise ValueError(f"LoRA adapter {adapter!r}: tensor {key} is neither a lora_A / lora_B weight nor the "
                         "classifier head's")
    target = target_of(prefixes(key))
    if target is None or target[1] is not None:
        raise ValueError(f"LoRA adapter {adapter!r}: {key} is not a parameter of this model's head")
    if tuple(params[target[0]].shape) != tuple(tensor.shape):
        raise ValueError(f"LoRA adapter {adapter!r}: {key} is {tuple(tensor.shape)}, the head's "
                         f"{target[0]} is {tuple(params[target[0]].shape)}")
    return target[0]


def _placed(model, adapter: str, module: str, pair: dict, target_of, prefixes) -> tuple[str, torch.Tensor, torch.Tensor]:
    """-> (our Linear's name, A [r, in], B [out, r] with the rows of its shard filled, in load order and scale)."""
    if set(pair) != {"A", "B"}:
        raise ValueError(f"LoRA adapter {adapter!r}: {module} has {sorted(pair)} of lora_A / lora_B, not both")
    if ".experts." in module or module.endswith((".embed_tokens", ".word_embeddings")):
        raise ValueError(f"LoRA adapter {adapter!r}: {module} is not served (adapters on embeddings and on "
                         "mixture-of-experts experts are not)")
    target = target_of(prefixes(module + ".weight"))
    if target is None:
        raise ValueError(f"LoRA adapter {adapter!r}: {module} is not a layer of this model")
    param, shard = target
    linear_name = param.rpartition(".")[0]
    linear = model.get_submodule(linear_name)
    if not isinstance(linear, Linear) or param.rpartition(".")[2] != "weight":
        raise ValueError(f"LoRA adapter {adapter!r}: {module} is not a projection of the body (a head's layer reads "
                         "the pooled rows, not the batch's): adapters there are not served")
    a, b = pair["A"], pair["B"]  # [r, in], [rows, r]
    order = getattr(linear, "shard_load_orders", {}).get(shard) if shard is not None else linear.load_row_order
    if order is not None:
        b = b.index_select(0, order)
    if linear.output_scale is not None:
        b = b * linear.output_scale
    rows = linear.shard_rows[shard] if shard is not None else slice(0, linear.out_features)
    full = torch.zeros(linear.out_features, b.shape[1], dtype=b.dtype)
    if full[rows].shape != b.shape or a.shape[1] != linear.in_features:
        raise ValueError(f"LoRA adapter {adapter!r}: {module}'s lora_A {tuple(a.shape)} / lora_B {tuple(b.shape)} "
                         f"do not fit {linear_name} ({linear.in_features} in, {full[rows].shape[0]} rows)")
    full[rows] = b
    return linear_name, a, full
