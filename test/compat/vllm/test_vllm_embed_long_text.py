"""Port of vLLM's tests/entrypoints/pooling/embed/test_online_long_text.py (at 27437309): long texts
embedded in chunks (``--pooler-config`` ``enable_chunked_processing`` with ``max_embed_len``), through
the ``openai`` client, with the upstream server flags (--dtype left out: the stand-in is float32).

Upstream serves intfloat/multilingual-e5-small; here its stand-in, the session's tiny XLM-R embedder
(mean pooling, normalised, 64 dimensions instead of 384). Kept: every upstream test and assertion
(sizes become 64; the long texts are sized by tokens, see below). Added: each embedding against transformers run on the same 512-token chunks,
averaged by token count and normalised (README "vLLM's command line")."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

MODEL_NAME = "intfloat/multilingual-e5-small"
EMBEDDING_SIZE = 64  # upstream: 384
WORDS = ("the and you they this that create build develop design implement execute analyze process generate "
         "calculate evaluate system application software network database algorithm model framework platform "
         "interface protocol project team organization company business market customer user product feature").split()


def _generate_random_text(word_count: int, seed: int) -> str:
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(word_count)]
    return " ".join(w + ("." if (i + 1) % rng.randint(10, 20) == 0 and i < word_count - 1 else "")
                    for i, w in enumerate(words))


# Upstream's texts are 1500 and 2500 words, ~1,030 and ~2,050 tokens for e5's tokenizer; the tiny
# tokenizer cuts a word into ~7 tokens, so the texts here are sized for those token counts instead.
LONG_TEXT_1500_WORDS = _generate_random_text(220, 0)
LONG_TEXT_2500_WORDS = _generate_random_text(380, 1)
SHORT_TEXT = ("Artificial intelligence technology is changing our world, bringing unprecedented opportunities and "
              "challenges.")


@pytest.fixture(scope="module")
def client(embed_chunked_server):
    import openai

    return openai.OpenAI(base_url=embed_chunked_server.url + "/v1", api_key="unused")


@pytest.fixture(scope="module")
def reference(embed_chunked_server):
    """transformers on each text's 512-token runs of ids, every token state averaged, normalised."""
    from transformers import AutoModel, AutoTokenizer

    path = str(embed_chunked_server.model_path)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def embed(text):
        ids = tokenizer(text)["input_ids"]
        with torch.no_grad():
            states = [model(input_ids=torch.tensor([ids[i : i + 512]])).last_hidden_state[0] for i in range(0, len(ids), 512)]
        mean = torch.cat(states).double().mean(0).numpy()
        return mean / np.linalg.norm(mean), len(ids)

    return embed


def _embed(client, texts):
    return client.embeddings.create(model=MODEL_NAME, input=texts, encoding_format="float")


@pytest.mark.parametrize("text,min_tokens", [(LONG_TEXT_1500_WORDS, 800), (LONG_TEXT_2500_WORDS, 1500)])
def test_long_text_embedding(client, reference, text, min_tokens):
    """test_long_text_embedding_1500_chars / _2500_chars (their word-count checks become the token
    counts' below: > 800 and > 1500 tokens, up to several chunks of 512)."""
    embeddings = _embed(client, [text])
    assert embeddings.id is not None and len(embeddings.data) == 1
    assert len(embeddings.data[0].embedding) == EMBEDDING_SIZE
    assert embeddings.usage.completion_tokens == 0
    assert embeddings.usage.prompt_tokens > min_tokens
    assert embeddings.usage.total_tokens == embeddings.usage.prompt_tokens
    vector = embeddings.data[0].embedding
    assert all(isinstance(x, float) for x in vector) and not all(x == 0 for x in vector)
    expected, tokens = reference(text)
    assert tokens > 512 and embeddings.usage.prompt_tokens == tokens
    np.testing.assert_allclose(vector, expected, atol=1e-4)


def test_batch_long_text_embedding(client, reference):
    texts = [LONG_TEXT_1500_WORDS, LONG_TEXT_2500_WORDS, "This is a short text test."]
    embeddings = _embed(client, texts)
    assert len(embeddings.data) == 3
    for i, data in enumerate(embeddings.data):
        assert len(data.embedding) == EMBEDDING_SIZE and data.index == i
        assert all(isinstance(x, float) for x in data.embedding) and not all(x == 0 for x in data.embedding)
        np.testing.assert_allclose(data.embedding, reference(texts[i])[0], atol=1e-4)
    assert embeddings.usage.completion_tokens == 0
    assert embeddings.usage.prompt_tokens > 1000
    assert embeddings.usage.total_tokens == embeddings.usage.prompt_tokens


def test_chunked_vs_normal_consistency(client, reference):
    embeddings = _embed(client, [SHORT_TEXT])
    assert len(embeddings.data) == 1 and len(embeddings.data[0].embedding) == EMBEDDING_SIZE
    assert embeddings.usage.completion_tokens == 0
    assert embeddings.usage.prompt_tokens < 512
    assert embeddings.usage.total_tokens == embeddings.usage.prompt_tokens
    np.testing.assert_allclose(embeddings.data[0].embedding, reference(SHORT_TEXT)[0], atol=1e-4)


def test_chunked_processing_response_format(client):
    embeddings = _embed(client, [LONG_TEXT_1500_WORDS])
    assert embeddings.id is not None and len(embeddings.data) == 1
    assert embeddings.data[0].object == "embedding" and embeddings.data[0].index == 0
    norm = math.sqrt(sum(x * x for x in embeddings.data[0].embedding))
    assert 0.8 < norm < 1.2, f"Vector norm should be reasonable, actual: {norm}"
