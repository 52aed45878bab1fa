"""multiscore: score items against a query with a language model, with exact multi-item scoring."""

from multiscore.entrypoints.engine import Engine
from multiscore.entrypoints.llm import LLM
from multiscore.entrypoints.llm_outputs import (
    ClassificationRequestOutput,
    EmbeddingRequestOutput,
    PoolingParams,
    PoolingRequestOutput,
    ScoringRequestOutput,
)
from multiscore.entrypoints.serving.results import ScoreResult

# LLM, PoolingParams and the *RequestOutput classes: vLLM's offline API (entrypoints/llm.py).
__all__ = ["Engine", "ScoreResult", "LLM", "PoolingParams", "PoolingRequestOutput", "EmbeddingRequestOutput",
           "ClassificationRequestOutput", "ScoringRequestOutput"]
__version__ = "0.1.0"
