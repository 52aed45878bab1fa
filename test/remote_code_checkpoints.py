"""Tiny checkpoints as remote code publishes them, made from transformers-saved ones."""

from __future__ import annotations

import json
import pathlib
import shutil


def as_llama_bidirectional(path, architecture: str, out=None, **keys) -> pathlib.Path:
    """A copy of a tiny Llama checkpoint with NVIDIA's remote-code config (model_type llama_bidirec,
    ``architecture``, ``keys`` such as pooling and temperature); beside ``path`` unless ``out``, made once."""
    path = pathlib.Path(path)
    out = pathlib.Path(out) if out is not None else path.parent / f"{path.name}-bidirec-{architecture}"
    if not out.exists():
        shutil.copytree(path, out)
        config = json.loads((path / "config.json").read_text())
        config.update(model_type="llama_bidirec", architectures=[architecture], **keys,
                      auto_map={"AutoModel": "llama_bidirectional_model.LlamaBidirectionalModel"})
        (out / "config.json").write_text(json.dumps(config))
    return out


# What Alibaba-NLP/gte-multilingual-base's config.json carries beside the sizes.
ORIGINAL_OPTIONS = {
    "position_embedding_type": "rope", "layer_norm_type": "layer_norm", "logn_attention_scale": False,
    "logn_attention_clip1": False, "pack_qkv": True, "unpad_inputs": False, "use_memory_efficient_attention": False,
    "auto_map": {"AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
                 "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel"},
}


def as_gte_original(path, out, architecture: str, **options) -> pathlib.Path:
    """A copy at ``out`` of a tiny transformers-saved GTE checkpoint as the original remote code
    publishes it: model_type ``new``, its class names (``architecture``), ``rope_theta`` instead of
    ``rope_parameters``, ``new.`` for ``gte.``; ``options`` over its config."""
    from safetensors.torch import load_file, save_file

    path, other = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, other)
    config = json.loads((path / "config.json").read_text())
    config.update(model_type="new", architectures=[architecture], rope_theta=config.pop("rope_parameters")["rope_theta"],
                  rope_scaling=None, **ORIGINAL_OPTIONS)
    config.update(options)
    (other / "config.json").write_text(json.dumps(config))
    tensors = {name.replace("gte.", "new.", 1) if name.startswith("gte.") else name: t
               for name, t in load_file(str(path / "model.safetensors")).items()}
    save_file(tensors, str(other / "model.safetensors"))
    return other


def with_transformers_names(path, out, fused: str, renames: dict) -> pathlib.Path:
    """A copy of a checkpoint saved in an original layout (what transformers saves for NomicBERT and
    jina-embeddings-v3), under transformers' module names: ``fused`` (q, k, v stacked, e.g.
    ``attn.Wqkv``) split into ``self_attn.{q,k,v}_proj``, and every other name part in ``renames``
    replaced."""
    from safetensors.torch import load_file, save_file

    def rename(name: str) -> str:
        for src, dst in renames.items():
            name = name.replace(src, dst)
        return name

    path, out = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, out)
    tensors = {}
    for name, tensor in load_file(str(path / "model.safetensors")).items():
        if f".{fused}." in name:  # [3·H(, H)] -> q, k, v
            stem, kind = name.split(f".{fused}.")
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3)):
                tensors[f"{rename(stem + '.')}self_attn.{part}.{kind}"] = chunk.clone()
        else:
            tensors[rename(name)] = tensor
    save_file(tensors, str(out / "model.safetensors"))
    return out
