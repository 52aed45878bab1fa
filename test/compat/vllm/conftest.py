"""The ported vLLM tests' references: what upstream's ``hf_runner`` gives, on the same tiny checkpoints
that the session's servers (test/compat/conftest.py) serve.

- ``is_cross_encoder=True``  -> sentence-transformers ``CrossEncoder.predict`` (sigmoid of the one logit);
- ``is_sentence_transformer`` -> ``SentenceTransformer.encode`` (the checkpoint's pooling and Normalize);
- ``EncoderScoringHfRunner`` -> cosine similarity of two ``SentenceTransformer`` vectors.
"""

from __future__ import annotations

import numpy as np
import pytest


class CrossEncoderRef:
    def __init__(self, path):
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(str(path), device="cpu")

    def predict(self, pairs) -> list[float]:
        return [float(x) for x in self.model.predict([list(p) for p in pairs])]


class SentenceTransformerRef:
    def __init__(self, path):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device="cpu")

    def encode(self, texts) -> list[list[float]]:
        return [list(map(float, v)) for v in self.model.encode(list(texts), convert_to_numpy=True)]

    def predict(self, pairs) -> list[float]:
        """EncoderScoringHfRunner.predict: cosine similarity of each pair's two vectors."""
        out = []
        for a, b in pairs:
            va, vb = (np.asarray(v, dtype=np.float64) for v in self.encode([a, b]))
            out.append(float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))))
        return out


@pytest.fixture(scope="session")
def cross_encoder_ref(cross_encoder_server):
    return CrossEncoderRef(cross_encoder_server.model_path)


@pytest.fixture(scope="session")
def bi_encoder_ref(bi_encoder_server):
    return SentenceTransformerRef(bi_encoder_server.model_path)


@pytest.fixture(scope="session")
def embed_ref(embed_server):
    return SentenceTransformerRef(embed_server.model_path)


@pytest.fixture(scope="module")
def tokenizer(server):
    """The module's server's tokenizer (each module names its ``server``)."""
    from compat_helpers import load_tokenizer

    return load_tokenizer(server.model_path)


@pytest.fixture(scope="module")
def input_tokens(request, tokenizer):
    """The module's ``input_text``, tokenized as the server tokenizes it."""
    return tokenizer(request.module.input_text)["input_ids"]
