"""sentence-transformers module files for a tiny checkpoint (shared by test/unit and test/compat)."""

from __future__ import annotations

import json
import pathlib


def write_sentence_transformers_files(path, pooling: str, normalize: bool, max_seq_length: int) -> None:
    """Make a bare encoder checkpoint a sentence-transformers model (Transformer -> Pooling [-> Normalize])."""
    path = pathlib.Path(path)
    config = json.loads((path / "config.json").read_text())
    hidden = config.get("hidden_size") or config.get("d_model") or config["dim"]  # T5: d_model; DistilBERT: dim
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (path / "2_Normalize").mkdir(exist_ok=True)
    (path / "modules.json").write_text(json.dumps(modules, indent=2))
    (path / "1_Pooling").mkdir(exist_ok=True)
    flags = {f"pooling_mode_{m}": False for m in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
                                                   "weightedmean_tokens", "lasttoken")}
    flags[{"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "last": "pooling_mode_lasttoken"}[pooling]] = True
    (path / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": hidden, **flags, "include_prompt": True}, indent=2))
    (path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}))


def prompted_embedder(base, out, prompts: dict, default_prompt_name=None) -> pathlib.Path:
    """A copy of the bare encoder ``base`` at ``out`` as a mean-pooled, normalised sentence-transformers
    model (128 tokens) with ``prompts`` (name -> text) in config_sentence_transformers.json."""
    import shutil

    out = pathlib.Path(out)
    shutil.copytree(base, out)
    write_sentence_transformers_files(out, "mean", normalize=True, max_seq_length=128)
    (out / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": prompts, "default_prompt_name": default_prompt_name}))
    return out


def add_dense_module(path, index: int, in_features: int, out_features: int, bias: bool, activation: str, seed: int) -> dict:
    """Write ``{index}_Dense`` (random weights, seeded) and return its modules.json entry."""
    import torch
    from safetensors.torch import save_file

    folder = pathlib.Path(path) / f"{index}_Dense"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"in_features": in_features, "out_features": out_features, "bias": bias, "activation_function": activation}))
    gen = torch.Generator().manual_seed(seed)
    tensors = {"linear.weight": torch.randn(out_features, in_features, generator=gen) * 0.2}
    if bias:
        tensors["linear.bias"] = torch.randn(out_features, generator=gen) * 0.1
    save_file(tensors, str(folder / "model.safetensors"))
    return {"idx": index, "name": str(index), "path": folder.name, "type": "sentence_transformers.models.Dense"}
