"""multiscore: score items against a query with a language model, with exact multi-item scoring."""

from __future__ import annotations

import importlib

# Public name -> the module that defines it. Imported on first use (PEP 562), so that a process which
# needs one part only (the scheduler, the model process, imports only multiscore.scheduler) does not
# pay for the rest: the Engine's import pulls in FastAPI and the HTTP layer.
# LLM, PoolingParams and the *RequestOutput classes: vLLM's offline API (entrypoints/llm.py).
_EXPORTS = {
    "Engine": "multiscore.entrypoints.engine",
    "ScoreResult": "multiscore.entrypoints.serving.results",
    "LLM": "multiscore.entrypoints.llm",
    "PoolingParams": "multiscore.entrypoints.llm_outputs",
    "LoRARequest": "multiscore.entrypoints.llm_outputs",
    "PoolingRequestOutput": "multiscore.entrypoints.llm_outputs",
    "EmbeddingRequestOutput": "multiscore.entrypoints.llm_outputs",
    "ClassificationRequestOutput": "multiscore.entrypoints.llm_outputs",
    "ScoringRequestOutput": "multiscore.entrypoints.llm_outputs",
}
__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'multiscore' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
