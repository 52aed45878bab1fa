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


JINA_TASKS = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]


def as_jina_v3_original(path, out, rank: int = 4, alpha: float = 2.0, seed: int = 0) -> tuple[pathlib.Path, dict]:
    """jinaai/jina-embeddings-v3 as published, from a tiny transformers-saved jina_embeddings_v3
    checkpoint (the original tensor names already): the remote code's config (``XLMRobertaLoRA``,
    model_type xlm-roberta, rotary keys, five tasks) and, under ``roberta.``, each Linear and Embedding
    weight as ``X.parametrizations.weight.original`` beside random task adapters (``...weight.0.lora_A``
    [tasks, r, in] and ``lora_B`` [tasks, out, r]; an Embedding's [tasks, rows, r] and [tasks, r, H]).
    -> (the copy, {transformers-saved weight name: (lora_A, lora_B)})."""
    import torch
    from safetensors.torch import load_file, save_file

    path, out = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, out)
    gen = torch.Generator().manual_seed(seed)
    tensors, adapters, n = {}, {}, len(JINA_TASKS)
    for name, tensor in load_file(str(path / "model.safetensors")).items():
        adapted = name.endswith(".weight") and tensor.dim() == 2  # Linear and Embedding weights (not LayerNorms)
        if not adapted:
            tensors["roberta." + name] = tensor
            continue
        stem = "roberta." + name[: -len(".weight")] + ".parametrizations.weight."
        rows, cols = tensor.shape
        if "embeddings." in name:  # W + s·A·B: A [tasks, rows, r], B [tasks, r, H]
            a, b = torch.randn(n, rows, rank, generator=gen) * 0.2, torch.randn(n, rank, cols, generator=gen) * 0.2
        else:  # W + s·B·A: A [tasks, r, in], B [tasks, out, r]
            a, b = torch.randn(n, rank, cols, generator=gen) * 0.2, torch.randn(n, rows, rank, generator=gen) * 0.2
        tensors[stem + "original"], tensors[stem + "0.lora_A"], tensors[stem + "0.lora_B"] = tensor, a, b
        adapters[name] = (a, b)
    save_file(tensors, str(out / "model.safetensors"))
    config = json.loads((path / "config.json").read_text())
    theta = config.pop("rope_parameters")["rope_theta"]
    config.update(model_type="xlm-roberta", architectures=["XLMRobertaLoRA"], position_embedding_type="rotary",
                  rotary_emb_base=theta, lora_adaptations=JINA_TASKS, lora_rank=rank, lora_alpha=alpha,
                  lora_dropout_p=0.0, load_trained_adapters=True,
                  auto_map={"AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_lora.XLMRobertaLoRA"})
    (out / "config.json").write_text(json.dumps(config))
    return out, adapters
