"""How an embedding model pools token states into one vector, read from sentence-transformers files.

A sentence-transformers checkpoint lists its modules in ``modules.json`` (Transformer -> Pooling
[-> Dense ...] [-> Normalize]); ``1_Pooling/config.json`` says which pooling; each ``Dense``
folder holds a linear layer and its activation (EmbeddingGemma has two); ``sentence_bert_config.json``
gives ``max_seq_length``. Without these files: CLS pooling for encoders, last-token pooling for
decoders (Qwen3-Embedding style), normalised, as vLLM does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from multiscore.configs.json_files import read_json
from multiscore.configs.late_interaction_config import LateInteractionConfig, read_late_interaction_config

POOLING_MODES = ("cls", "mean", "last")

# 1_Pooling/config.json flag -> our mode.
_ST_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_lasttoken": "last",
}


# sentence-transformers Dense activation_function -> ours (its default is Tanh).
_DENSE_ACTIVATIONS = {
    "torch.nn.modules.linear.Identity": "identity", "torch.nn.Identity": "identity",
    "torch.nn.modules.activation.Tanh": "tanh", "torch.nn.Tanh": "tanh",
}


@dataclass(frozen=True)
class DenseLayer:
    """One sentence-transformers ``Dense`` module: ``activation(x Wᵀ + b)`` after pooling."""

    directory: str  # relative to the model folder; holds model.safetensors (or pytorch_model.bin)
    in_features: int
    out_features: int
    bias: bool
    activation: str  # identity | tanh


@dataclass(frozen=True)
class PoolingConfig:
    mode: str  # cls | mean | last | splade
    normalize: bool
    max_seq_length: Optional[int] = None  # sentence-transformers' truncation length, when given
    dense: tuple[DenseLayer, ...] = ()  # applied after pooling, before normalisation
    # config_sentence_transformers.json: name -> text put before an input ("query": "query: ").
    prompts: tuple[tuple[str, str], ...] = ()
    default_prompt_name: Optional[str] = None  # applied when a request names none, as encode() does
    splade_strategy: Optional[str] = None  # mode splade: max or sum of the tokens' activations per vocabulary entry
    # A ColBERT checkpoint: a vector per token through ``dense``, scored by MaxSim (late_interaction_config.py).
    late_interaction: Optional[LateInteractionConfig] = None
    do_lower_case: bool = False  # sentence_bert_config.json: texts are lowercased before tokenizing
    default_prompt: Optional[str] = None  # TEI's --default-prompt: a text in place of a default prompt name

    def prompt_text(self, prompt_name: Optional[str]) -> str:
        """The text to put before each input: the named prompt, else the default one, else ''."""
        prompts = dict(self.prompts)
        if prompt_name is not None and prompt_name not in prompts:
            known = ", ".join(sorted(prompts)) or "none"
            raise ValueError(f"prompt_name {prompt_name!r} is not one of the model's prompts ({known})")
        if prompt_name is None and self.default_prompt is not None:
            return self.default_prompt
        name = prompt_name if prompt_name is not None else self.default_prompt_name
        return prompts.get(name, "") if name is not None else ""


def refuse_router(model_dir: str) -> None:
    """ValueError for a sentence-transformers Router checkpoint (modules.json's one module routes queries and
    documents through different modules, router_config.json's ``structure``): a request here says no route."""
    modules = read_json(os.path.join(model_dir, "modules.json"), [])
    if not any(str(m.get("type", "")).rpartition(".")[2] == "Router" for m in modules if isinstance(m, dict)):
        return
    structure = read_json(os.path.join(model_dir, "router_config.json"), {}).get("structure") or {}
    routes = "; ".join(f"{route}: {', '.join(names)}" for route, names in structure.items()) or "see router_config.json"
    raise ValueError("this sentence-transformers checkpoint routes its inputs through different modules by task "
                     f"(Router: {routes}), which is not supported; a route whose modules are one transformer and its "
                     "pooling can be served from that module's folder")


def read_pooling_config(model_dir: str, is_encoder: bool, default_mode: Optional[str] = None) -> PoolingConfig:
    """The checkpoint's sentence-transformers files; without them ``default_mode`` (the model class's
    own: its config's pooling), else an encoder's first token or a decoder's last, normalised."""
    default_mode = default_mode or ("cls" if is_encoder else "last")
    modules_path = os.path.join(model_dir, "modules.json")
    if not os.path.exists(modules_path):
        late_interaction = read_late_interaction_config(model_dir, [], {}, {}, None)
        return PoolingConfig(default_mode, normalize=True, late_interaction=late_interaction)
    modules = read_json(modules_path)
    types = [m.get("type", "") for m in modules]
    mode = default_mode
    splade_strategy = None
    for module in modules:
        module_config = os.path.join(model_dir, module.get("path", ""), "config.json")
        if module.get("type", "").endswith("SpladePooling"):  # a sentence-transformers SparseEncoder
            mode, splade_strategy = "splade", _splade_strategy(module_config)
        elif module.get("type", "").endswith("Pooling"):
            mode = _pooling_mode(module_config)
    normalize = any(t.endswith("Normalize") for t in types)
    dense = tuple(_dense_layer(model_dir, m.get("path", "")) for m in modules if m.get("type", "").endswith("Dense"))
    st_config = os.path.join(model_dir, "sentence_bert_config.json")
    st_transformer = read_json(st_config, {})
    max_seq_length = st_transformer.get("max_seq_length")
    if max_seq_length is None:  # sentence-transformers 6 keeps it as the tokenizer's model_max_length
        max_seq_length = _tokenizer_max_length(model_dir)
    prompts_path = os.path.join(model_dir, "config_sentence_transformers.json")
    st_model = read_json(prompts_path, {})
    prompts = tuple(sorted((st_model.get("prompts") or {}).items()))
    default_prompt = st_model.get("default_prompt_name")
    if default_prompt is not None and default_prompt not in dict(prompts):
        raise ValueError(f"default_prompt_name {default_prompt!r} names no prompt in {prompts_path}")
    late_interaction = read_late_interaction_config(model_dir, modules, st_model, st_transformer, max_seq_length)
    return PoolingConfig(mode, normalize, max_seq_length, dense, prompts, default_prompt, splade_strategy, late_interaction,
                         bool(st_transformer.get("do_lower_case", False)))


def _tokenizer_max_length(model_dir: str) -> Optional[int]:
    """tokenizer_config.json's ``model_max_length``, unless it is transformers' "no limit" (1e30)."""
    path = os.path.join(model_dir, "tokenizer_config.json")
    length = read_json(path, {}).get("model_max_length")
    return int(length) if isinstance(length, (int, float)) and 0 < length < 1_000_000 else None


def _splade_strategy(config_path: str) -> str:
    """SpladePooling's reduction over tokens (max or sum) of relu activations, read from its config."""
    config = read_json(config_path, {})
    strategy = config.get("pooling_strategy", "max")
    activation = config.get("activation_function", "relu")
    if strategy not in ("max", "sum") or activation != "relu":
        raise ValueError(f"unsupported SpladePooling in {config_path}: pooling_strategy {strategy!r}, "
                         f"activation_function {activation!r} (supported: max or sum of relu)")
    return strategy


def _dense_layer(model_dir: str, directory: str) -> DenseLayer:
    config_path = os.path.join(model_dir, directory, "config.json")
    config = read_json(config_path)
    if config.get("use_residual"):  # pylate's Dense option: + a residual projection of its input
        raise ValueError(f"unsupported Dense layer in {config_path}: use_residual is not implemented")
    activation = config.get("activation_function", "torch.nn.modules.activation.Tanh")
    if activation not in _DENSE_ACTIVATIONS:
        raise ValueError(f"unsupported sentence-transformers Dense activation {activation!r} in {config_path}: "
                         f"use one of {sorted(set(_DENSE_ACTIVATIONS))}")
    return DenseLayer(directory, int(config["in_features"]), int(config["out_features"]), bool(config.get("bias", True)),
                      _DENSE_ACTIVATIONS[activation])


def _pooling_mode(config_path: str) -> str:
    config = read_json(config_path)
    if "pooling_mode" in config:  # newer sentence-transformers write the mode by name
        name = {"lasttoken": "last"}.get(config["pooling_mode"], config["pooling_mode"])
        if name in POOLING_MODES:
            return name
    modes = [mode for flag, mode in _ST_POOLING_FLAGS.items() if config.get(flag)]
    if len(modes) != 1:
        on = [flag for flag, value in config.items() if flag.startswith("pooling_mode") and value]
        raise ValueError(f"unsupported sentence-transformers pooling {on} in {config_path}: use one of CLS, mean, last token")
    return modes[0]


def adopt_saved_activation(model_dir: str, hf_config) -> None:
    """A sentence-transformers 6 CrossEncoder's activation (config_sentence_transformers.json) onto
    ``hf_config``, where layers/score_activation.py reads every version's."""
    activation = read_json(os.path.join(model_dir, "config_sentence_transformers.json"), {}).get("activation_fn")
    if isinstance(activation, str) and activation:
        hf_config.sentence_transformers = {**(getattr(hf_config, "sentence_transformers", None) or {}),
                                           "activation_fn": activation}
