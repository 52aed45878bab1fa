"""Static embedding checkpoints: sentence-transformers' ``StaticEmbedding`` (sentence-transformers/static-
retrieval-mrl-en-v1, static-similarity-mrl-multilingual-v1, and model2vec's models saved through
sentence-transformers). A text's embedding is the mean of its tokens' rows of one table, tokenized without
special tokens and without a length limit (no transformer, no attention), then normalised where modules.json
says.

They have no transformers config, so they are staged as a checkpoint this runtime reads: a folder in the
temporary directory, keyed by the checkpoint's path and files, holding

- config.json: ``StaticEmbeddingModel`` (models/static_embedding.py) with the table's ``vocab_size`` and
  ``hidden_size`` (read from the weights' header), as a BertConfig with no layers;
- the tokenizer (``tokenizer.json``) without its post-processor, which is what ``add_special_tokens=False``
  leaves, and a tokenizer_config.json;
- the table (a link to the module's model.safetensors) and modules.json with the checkpoint's Normalize.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Optional

ARCHITECTURE = "StaticEmbeddingModel"
CONTEXT = 1 << 20  # tokens a text may have: sentence-transformers sets no limit


def _static_module(path: str) -> Optional[dict]:
    """modules.json's StaticEmbedding entry where it is the first module and the folder has no config.json."""
    modules_path = os.path.join(path, "modules.json")
    if os.path.exists(os.path.join(path, "config.json")) or not os.path.exists(modules_path):
        return None
    with open(modules_path, encoding="utf-8") as f:
        modules = json.load(f)
    first = modules[0] if modules else {}
    return first if str(first.get("type", "")).endswith("StaticEmbedding") else None


def staged_static_embedding(path: str) -> str:
    """``path`` itself, or for a StaticEmbedding checkpoint its staged folder (module docstring)."""
    module = _static_module(path)
    if module is None:
        return path
    source = os.path.join(path, module.get("path", ""))
    weights, tokenizer = os.path.join(source, "model.safetensors"), os.path.join(source, "tokenizer.json")
    for needed in (weights, tokenizer):
        if not os.path.exists(needed):
            raise ValueError(f"a StaticEmbedding checkpoint needs {needed}")
    modules_path = os.path.join(path, "modules.json")
    stamp = "|".join([os.path.abspath(path)] + [f"{os.path.getmtime(f)}:{os.path.getsize(f)}" for f in (weights, tokenizer, modules_path)])
    staged = os.path.join(tempfile.gettempdir(), "multiscore-static", hashlib.sha256(stamp.encode()).hexdigest()[:16])
    link = os.path.join(staged, "model.safetensors")
    if os.path.exists(link):  # staged already (by this process's start or another's): the link is written last
        return staged
    files = _staged_files(weights, tokenizer, modules_path)
    os.makedirs(staged, exist_ok=True)
    for name, content in files.items():
        _write_atomically(os.path.join(staged, name), json.dumps(content))
    tmp = f"{link}.{os.getpid()}"
    os.symlink(os.path.abspath(weights), tmp)
    os.replace(tmp, link)  # several processes may stage the same checkpoint: each writes whole files
    return staged


def _staged_files(weights: str, tokenizer: str, modules_path: str) -> dict:
    """The staged folder's JSON files (module docstring), from the checkpoint's table, tokenizer and modules."""
    from safetensors import safe_open

    with safe_open(weights, "pt") as f:
        names = list(f.keys())
        if names not in (["embedding.weight"], ["embeddings"]):
            raise ValueError(f"{weights}: expected one tensor, 'embedding.weight' (or model2vec's 'embeddings'), got {names}")
        vocab, width = f.get_slice(names[0]).get_shape()
    with open(modules_path, encoding="utf-8") as f:
        modules = json.load(f)
    normalize = [m for m in modules[1:] if str(m.get("type", "")).endswith("Normalize")]
    others = [m["type"] for m in modules[1:] if not str(m.get("type", "")).endswith("Normalize")]
    if others:
        raise ValueError(f"a StaticEmbedding checkpoint with {others} after it is not supported (Normalize is)")
    with open(tokenizer, encoding="utf-8") as f:
        tokenizer_json = json.load(f)
    tokenizer_json["post_processor"] = None  # sentence-transformers tokenizes with add_special_tokens=False
    return {
        "config.json": {"model_type": "bert", "architectures": [ARCHITECTURE], "vocab_size": vocab, "hidden_size": width,
                        "num_hidden_layers": 0, "num_attention_heads": 1, "intermediate_size": width,
                        "max_position_embeddings": CONTEXT},
        "tokenizer.json": tokenizer_json,
        "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": CONTEXT},
        "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.StaticEmbedding"}]
        + [{"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.models.Normalize"}] * bool(normalize),
    }


def _write_atomically(target: str, text: str) -> None:
    tmp = f"{target}.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, target)
