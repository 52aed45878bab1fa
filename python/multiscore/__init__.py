"""multiscore: score items against a query with a language model, with exact multi-item scoring."""

from multiscore.entrypoints.engine import Engine
from multiscore.entrypoints.serving.results import ScoreResult

__all__ = ["Engine", "ScoreResult"]
__version__ = "0.1.0"
