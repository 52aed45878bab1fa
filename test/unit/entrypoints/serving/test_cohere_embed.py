"""Cohere embed's meaning: the embedding types against sentence-transformers' quantize_embeddings,
input_type -> prompt as sentence-transformers' encode_query / encode_document pick it, and the
request's input forms."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import numpy as np
import pytest
from sentence_transformers import quantize_embeddings

from multiscore.configs.pooling_config import PoolingConfig
from multiscore.entrypoints.protocol import CohereEmbedRequest
from multiscore.entrypoints.serving.cohere_embed import CohereEmbedServing, typed_embeddings


@pytest.mark.parametrize("dim", [64, 13, 8])
def test_typed_embeddings_as_sentence_transformers_quantizes(dim):
    vectors = np.random.default_rng(dim).standard_normal((3, dim)).astype(np.float32)
    vectors[0, :4] = 0.0  # zero is not positive: bit 0, as in quantize_embeddings
    got = typed_embeddings(vectors.tolist(), ["float", "binary", "ubinary", "base64", "float"])
    assert list(got) == ["float", "binary", "ubinary", "base64"]
    assert got["binary"] == quantize_embeddings(vectors, precision="binary").tolist()
    assert got["ubinary"] == quantize_embeddings(vectors, precision="ubinary").tolist()
    assert len(got["ubinary"][0]) == -(-dim // 8)
    assert all(-128 <= x <= 127 for row in got["binary"] for x in row)
    decoded = np.array([np.frombuffer(base64.b64decode(b), dtype="<f4") for b in got["base64"]])
    np.testing.assert_array_equal(decoded, vectors)
    assert got["float"] == vectors.tolist()


def _serving(prompts: dict, default=None) -> CohereEmbedServing:
    pooling = PoolingConfig(mode="mean", normalize=True, prompts=tuple(prompts.items()), default_prompt_name=default)
    return CohereEmbedServing(None, SimpleNamespace(pooling=pooling if prompts else None))


@pytest.mark.parametrize(
    "prompts, input_type, expected",
    [
        ({}, None, None),
        ({}, "search_query", None),
        ({}, "search_document", None),
        ({"query": "query: ", "passage": "passage: "}, "search_query", "query"),  # e5
        ({"query": "query: ", "passage": "passage: "}, "search_document", "passage"),
        ({"query": "q", "document": "d", "passage": "p"}, "search_document", "document"),  # ST's order
        ({"corpus": "c"}, "search_document", "corpus"),
        ({"query": "Represent this sentence: "}, "search_document", None),  # bge: no document prompt
        ({"search_query": "search_query: ", "search_document": "search_document: ", "query": "q"},
         "search_query", "search_query"),  # nomic-embed: its own name first
        ({"Classification": "task: classification | query: "}, "classification", "Classification"),  # EmbeddingGemma
        ({"Clustering": "task: clustering | query: "}, "clustering", "Clustering"),
        ({"retrieval.query": "r"}, "retrieval.query", "retrieval.query"),  # a model's own name
    ],
)
def test_input_type_picks_the_prompt(prompts, input_type, expected):
    assert _serving(prompts).prompt_name(input_type) == expected


def test_unknown_input_types_are_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"^Unsupported input_type 'doc'\. Supported values: classification, "
                                         r"clustering, query, search_document, search_query$"):
        _serving({"query": "q"}).prompt_name("doc")
    with pytest.raises(ValueError, match="input_type 'image': this server serves text models"):
        _serving({}).prompt_name("image")


def test_request_texts_and_inputs():
    assert CohereEmbedRequest(texts=["a", "b"]).text_inputs() == ["a", "b"]
    parts = {"content": [{"type": "text", "text": "title"}, {"type": "text", "text": "body"}]}
    assert CohereEmbedRequest(inputs=[parts, {"content": [{"type": "text", "text": "x"}]}]).text_inputs() == [
        "title\nbody", "x"]
    for body, message in [
        ({}, "give either 'texts' or 'inputs'"),
        ({"texts": ["a"], "inputs": [parts]}, "give either 'texts' or 'inputs'"),
        ({"texts": []}, "'texts' must not be empty"),
        ({"inputs": []}, "'inputs' must not be empty"),
        ({"images": ["data:image/png;base64,AAAA"]}, "'images' cannot be embedded"),
        ({"inputs": [{"content": [{"type": "image_url", "image_url": {"url": "u"}}]}]}, r"inputs\[0\] holds an image"),
        ({"inputs": [{"content": []}]}, r"inputs\[0\] has no text"),
    ]:
        with pytest.raises(ValueError, match=message):
            CohereEmbedRequest(**body).text_inputs()
