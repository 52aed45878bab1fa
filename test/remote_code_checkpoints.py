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
# jinaai/jina-embeddings-v3's config.json: what its encode(texts, task=...) puts before each text.
JINA_INSTRUCTIONS = {"retrieval.query": "Represent the query for retrieving evidence documents: ",
                     "retrieval.passage": "Represent the document for retrieval: ", "separation": "",
                     "classification": "", "text-matching": ""}


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
                  rotary_emb_base=theta, lora_adaptations=JINA_TASKS, task_instructions=JINA_INSTRUCTIONS,
                  lora_rank=rank, lora_alpha=alpha,
                  lora_dropout_p=0.0, load_trained_adapters=True,
                  auto_map={"AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_lora.XLMRobertaLoRA"})
    (out / "config.json").write_text(json.dumps(config))
    return out, adapters


# transformers-saved names -> transformers' module names (its state_dict).
_JINA_TO_STATE_DICT = {"emb_ln.": "embeddings.LayerNorm.", "encoder.layers.": "layers.", "mixer.out_proj.": "self_attn.o_proj."}


def jina_v3_merged_deltas(adapters: dict, task: int, scaling: float = 0.5) -> dict:
    """{transformers state_dict name: task ``task``'s s·B·A (an Embedding's s·A·B)} of as_jina_v3_original's
    ``adapters`` (scaling: its alpha / rank)."""
    merge = {}
    for name, (a, b) in adapters.items():
        delta = scaling * ((a[task] @ b[task]) if "embeddings." in name else (b[task] @ a[task]))
        if ".mixer.Wqkv." in name:  # transformers splits the fused projection into q, k, v
            stem = name.replace("encoder.layers.", "layers.").split(".mixer.Wqkv.")[0]
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), delta.chunk(3)):
                merge[f"{stem}.self_attn.{part}.weight"] = chunk
            continue
        for src, dst in _JINA_TO_STATE_DICT.items():
            name = name.replace(src, dst)
        merge[name] = delta
    return merge


def jina_v3_transformers(path, merge=None):
    """transformers' JinaEmbeddingsV3Model of the transformers-saved ``path``, ``merge`` {name: delta} added
    to its weights (jina_v3_merged_deltas: what the original code computes for that task)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    if merge:
        state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
        for name, delta in merge.items():
            state[name] += delta
        model.load_state_dict(state)
    return model


def as_jina_reranker_v3(path, out, seed: int = 0) -> pathlib.Path:
    """jina-reranker-v3 as published (remote code ``JinaForRanking``), from a tiny transformers-saved
    Qwen3 causal checkpoint: its tokenizer with the markers ``<|embed_token|>`` / ``<|rerank_token|>``
    added (the embeddings grown to hold them), random ``projector.0`` [H/2, H] / ``projector.2`` [512, H/2]
    beside the Qwen3 weights, and the markers' ids in config.json (the real ones: 151670 / 151671)."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    path, out = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, out)
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.add_special_tokens({"additional_special_tokens": ["<|embed_token|>", "<|rerank_token|>"]})
    tok.save_pretrained(str(out))
    doc_id, query_id = tok.convert_tokens_to_ids(["<|embed_token|>", "<|rerank_token|>"])
    config = json.loads((path / "config.json").read_text())
    gen = torch.Generator().manual_seed(seed)
    tensors = load_file(str(path / "model.safetensors"))
    vocab, hidden = config["vocab_size"], config["hidden_size"]
    if len(tok) > vocab:  # grow the embeddings (and the unused LM head) to the new ids
        grow = len(tok) - vocab
        for name in ("model.embed_tokens.weight", "lm_head.weight"):
            if name in tensors:
                tensors[name] = torch.cat([tensors[name], torch.randn(grow, hidden, generator=gen) * 0.1])
        config["vocab_size"] = len(tok)
    tensors["projector.0.weight"] = torch.randn(hidden // 2, hidden, generator=gen) * 0.2
    tensors["projector.2.weight"] = torch.randn(512, hidden // 2, generator=gen) * 0.2
    save_file(tensors, str(out / "model.safetensors"))
    config.update(architectures=["JinaForRanking"], doc_embed_token_id=doc_id, query_embed_token_id=query_id,
                  auto_map={"AutoModelForCausalLM": "modeling.JinaForRanking"})
    (out / "config.json").write_text(json.dumps(config))
    return out


# transformers' XLM-R names -> jinaai/xlm-roberta-flash-implementation's (q/k/v fused apart).
_TO_FLASH_IMPLEMENTATION = {"embeddings.LayerNorm.": "emb_ln.", "encoder.layer.": "encoder.layers.",
                            "attention.output.dense.": "mixer.out_proj.", "attention.output.LayerNorm.": "norm1.",
                            "intermediate.dense.": "mlp.fc1.", "output.dense.": "mlp.fc2.", "output.LayerNorm.": "norm2."}


def as_jina_reranker_v2(path, out) -> pathlib.Path:
    """jinaai/jina-reranker-v2-base-multilingual as published, from a tiny transformers-saved
    XLMRobertaForSequenceClassification: its config.json has no model_type (the remote code's
    ``XLMRobertaFlashConfig`` in ``auto_map``, ``use_flash_attn``), and its tensors the flash
    implementation's names, q/k/v stacked in ``mixer.Wqkv``."""
    import torch
    from safetensors.torch import load_file, save_file

    path, out = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, out)
    tensors = {}
    source = load_file(str(path / "model.safetensors"))
    for name, tensor in source.items():
        if ".attention.self." in name:
            if ".attention.self.query." in name:  # q, k, v -> mixer.Wqkv [3H(, H)]
                stem, kind = name.split(".attention.self.query.")
                parts = [source[f"{stem}.attention.self.{p}.{kind}"] for p in ("query", "key", "value")]
                tensors[stem.replace("encoder.layer.", "encoder.layers.") + f".mixer.Wqkv.{kind}"] = torch.cat(parts)
            continue
        for src, dst in _TO_FLASH_IMPLEMENTATION.items():
            name = name.replace(src, dst)
        tensors[name] = tensor
    save_file(tensors, str(out / "model.safetensors"))
    config = json.loads((path / "config.json").read_text())
    del config["model_type"]
    config.update(use_flash_attn=True, emb_pooler=None, auto_map={
        "AutoConfig": "jinaai/xlm-roberta-flash-implementation--configuration_xlm_roberta.XLMRobertaFlashConfig",
        "AutoModelForSequenceClassification":
            "jinaai/xlm-roberta-flash-implementation--modeling_xlm_roberta.XLMRobertaForSequenceClassification"})
    (out / "config.json").write_text(json.dumps(config))
    return out


# transformers' Llama names -> InternLM2's remote code's (q/k/v stacked per kv head apart).
_TO_INTERNLM2 = {"model.embed_tokens.": "model.tok_embeddings.", "self_attn.o_proj.": "attention.wo.",
                 "input_layernorm.": "attention_norm.", "post_attention_layernorm.": "ffn_norm.",
                 "mlp.gate_proj.": "feed_forward.w1.", "mlp.up_proj.": "feed_forward.w3.", "mlp.down_proj.": "feed_forward.w2.",
                 "lm_head.": "output.", "score.": "v_head."}


def as_internlm2(path, out, architecture: str) -> pathlib.Path:
    """internlm/internlm2-* as published, from a tiny transformers-saved Llama (grouped kv heads):
    model_type ``internlm2`` (remote code), ``bias``, dynamic NTK rope scaling, and its tensor names,
    ``attention.wqkv`` stacking per kv head its query heads, its key and its value."""
    import torch
    from safetensors.torch import load_file, save_file

    path, out = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, out)
    config = json.loads((path / "config.json").read_text())
    heads, kv_heads, dim = config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]
    tensors, source = {}, load_file(str(path / "model.safetensors"))
    for name, tensor in source.items():
        if ".self_attn." in name and "o_proj" not in name:
            if ".self_attn.q_proj." in name:
                stem = name.split(".self_attn.q_proj.")[0]
                q = source[f"{stem}.self_attn.q_proj.weight"].view(kv_heads, heads // kv_heads, dim, -1)
                k = source[f"{stem}.self_attn.k_proj.weight"].view(kv_heads, 1, dim, -1)
                v = source[f"{stem}.self_attn.v_proj.weight"].view(kv_heads, 1, dim, -1)
                tensors[f"{stem}.attention.wqkv.weight"] = torch.cat([q, k, v], dim=1).reshape(-1, q.shape[-1])
            continue
        for src, dst in _TO_INTERNLM2.items():
            name = name.replace(src, dst)
        tensors[name] = tensor
    save_file(tensors, str(out / "model.safetensors"))
    theta = config.pop("rope_parameters")["rope_theta"]
    config.update(model_type="internlm2", architectures=[architecture], bias=False, rope_theta=theta,
                  rope_scaling={"type": "dynamic", "factor": 2.0}, attn_implementation="eager",
                  auto_map={"AutoConfig": "configuration_internlm2.InternLM2Config",
                            "AutoModel": f"modeling_internlm2.{architecture}"})
    for key in ("attention_bias", "mlp_bias", "head_dim", "model_type_llama"):
        config.pop(key, None)
    (out / "config.json").write_text(json.dumps(config))
    return out


# Granite's multipliers as MiniCPM's config keys: the same computation (models/minicpm.py).
_GRANITE_ONLY_KEYS = ("embedding_multiplier", "residual_multiplier", "logits_scaling", "attention_multiplier",
                      "rope_parameters", "attention_bias", "mlp_bias", "head_dim", "dtype")


def as_minicpm(path, out, architecture: str = "MiniCPMForCausalLM", layerwise_start: int = 0, seed: int = 0,
               **keys) -> pathlib.Path:
    """openbmb's MiniCPM as published (remote code, model_type ``minicpm``) at ``out``, from a tiny
    transformers-saved Granite whose attention multiplier is head_dim ** -0.5: ``scale_emb``,
    ``scale_depth`` (the residual multiplier times sqrt(layers)) and ``dim_model_base`` (hidden /
    logits_scaling). ``layerwise_start``: bge-reranker-v2-minicpm-layerwise's layout instead, a random
    one-output head per layer from that layer on (``lm_head.{i}.linear_head``, seeded) and no LM head."""
    import math

    import torch
    from safetensors.torch import load_file, save_file

    path, out = pathlib.Path(path), pathlib.Path(out)
    shutil.copytree(path, out)
    config = json.loads((path / "config.json").read_text())
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    assert math.isclose(config["attention_multiplier"], head_dim ** -0.5), "MiniCPM scales attention by head_dim ** -0.5"
    layers = config["num_hidden_layers"]
    minicpm = dict(model_type="minicpm", architectures=[architecture], rope_theta=config["rope_parameters"]["rope_theta"],
                   rope_scaling=None, scale_emb=config["embedding_multiplier"],
                   scale_depth=config["residual_multiplier"] * math.sqrt(layers),
                   dim_model_base=config["hidden_size"] / config["logits_scaling"],
                   auto_map={"AutoConfig": "configuration_minicpm.MiniCPMConfig",
                             "AutoModelForCausalLM": f"modeling_minicpm.{architecture}"})
    for key in _GRANITE_ONLY_KEYS:
        config.pop(key, None)
    config.update(minicpm, **keys)
    if layerwise_start:
        tensors = {k: v for k, v in load_file(str(path / "model.safetensors")).items() if k != "lm_head.weight"}
        gen = torch.Generator().manual_seed(seed)
        for i in range(layers - layerwise_start + 1):
            tensors[f"lm_head.{i}.linear_head.weight"] = torch.randn(1, config["hidden_size"], generator=gen) * 0.3
        save_file(tensors, str(out / "model.safetensors"))
        config.update(start_layer=layerwise_start, head_multi=True, head_type="simple")
    (out / "config.json").write_text(json.dumps(config))
    return out
