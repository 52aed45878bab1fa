"""Attention backends behind one interface and a string registry; implementations import lazily."""

from __future__ import annotations

import importlib

from multiscore.layers.attention.base import AttentionBackend, BatchAttention, SequenceLayout

# name -> "module:Class"; a backend's module (and its third-party kernels) is imported only when chosen.
_BACKENDS = {
    "torch": "multiscore.layers.attention.torch_backend:TorchAttentionBackend",
    "flashinfer": "multiscore.layers.attention.flashinfer_backend:FlashInferAttentionBackend",
}


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


# Becomes True once test/gpu/test_flashinfer_backend.py has passed on a GPU; until then FlashInfer
# runs only when asked for (--attention-backend flashinfer), and CUDA defaults to torch.
FLASHINFER_IS_DEFAULT_ON_CUDA = False


def default_backend_name(device: str) -> str:
    if FLASHINFER_IS_DEFAULT_ON_CUDA and device.startswith("cuda") and importlib.util.find_spec("flashinfer"):
        return "flashinfer"
    return "torch"


def get_backend_class(name: str) -> type[AttentionBackend]:
    if name not in _BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {available_backends()}")
    module_name, class_name = _BACKENDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"attention backend {name!r} is not available here: {e}") from None
    return getattr(module, class_name)


__all__ = ["AttentionBackend", "BatchAttention", "SequenceLayout", "available_backends", "default_backend_name", "get_backend_class"]
