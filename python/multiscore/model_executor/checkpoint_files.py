"""A checkpoint's weight files and their tensors, in either format Hugging Face writes:
``*.safetensors`` (sharded with ``model.safetensors.index.json``), preferred where both exist, or
PyTorch's ``pytorch_model.bin`` (sharded with ``pytorch_model.bin.index.json``), which transformers
wrote by default before 4.35 and which many fine-tuned rerankers still ship alone.

A ``.bin`` file is a pickle: it is read with ``torch.load(weights_only=True)``, which rebuilds
tensors and plain containers only and refuses any other object, so a checkpoint cannot run code.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Iterator, Optional

import torch
from safetensors import safe_open

SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"
BIN_FILE = "pytorch_model.bin"


def checkpoint_files(path: str) -> list[str]:
    """The weight files of the checkpoint directory ``path``: its safetensors if it has any, else its
    PyTorch ``.bin`` files. Raises ValueError when it has neither."""
    for index in (SAFETENSORS_INDEX, BIN_INDEX):
        index_path = os.path.join(path, index)
        if os.path.exists(index_path):
            with open(index_path) as f:
                return sorted({os.path.join(path, name) for name in json.load(f)["weight_map"].values()})
    files = sorted(glob.glob(os.path.join(path, "*.safetensors")))
    if files:
        return files
    if os.path.exists(os.path.join(path, BIN_FILE)):
        return [os.path.join(path, BIN_FILE)]
    raise ValueError(f"no weights in {path!r}: expected *.safetensors or {BIN_FILE} (with {BIN_INDEX} if sharded)")


def iter_checkpoint(path: str) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) for every tensor of the checkpoint, one file at a time."""
    for file in checkpoint_files(path):
        if file.endswith(".safetensors"):
            with safe_open(file, framework="pt") as f:
                for name in f.keys():
                    yield name, f.get_tensor(name)
        else:
            yield from _bin_tensors(file).items()


def tensor_shape(path: str, name: str) -> Optional[tuple[int, ...]]:
    """The shape of the checkpoint's tensor ``name`` (None: it has none), without reading safetensors data."""
    for file in checkpoint_files(path):
        if file.endswith(".safetensors"):
            with safe_open(file, framework="pt") as f:
                if name in f.keys():
                    return tuple(f.get_slice(name).get_shape())
        elif name in (tensors := _bin_tensors(file)):
            return tuple(tensors[name].shape)
    return None


def _bin_tensors(file: str) -> dict[str, torch.Tensor]:
    try:
        # mmap: pages are read as tensors are copied into the model, not all up front.
        state = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise ValueError(f"cannot read the PyTorch checkpoint {file!r}: {e}") from None
        # torch < 1.6's format (not a zip archive) cannot be memory-mapped: read it whole.
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError: an object weights_only refuses, or a corrupt file
        raise ValueError(f"cannot read the PyTorch checkpoint {file!r} as plain tensors: {e}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{file!r} holds a {type(state).__name__}, not a state dict of tensors")
    return {name: t for name, t in state.items() if isinstance(t, torch.Tensor)}
