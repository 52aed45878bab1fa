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
