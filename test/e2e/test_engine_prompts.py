"""sentence-transformers prompts (config_sentence_transformers.json) through Engine.embed's
prompt_name (TEI's field), against SentenceTransformer.encode(prompt_name=...), and through
Cohere's input_type on /v2/embed, against encode_query and encode(prompt_name=...)."""

import numpy as np
import pytest
import requests

from multiscore import Engine
from proc_utils import Server
from st_files import prompted_embedder

TEXTS = ["a big dog", "the capital of the country"]
PROMPTS = {"query": "the question is ", "passage": "the answer is "}


@pytest.fixture(scope="module")
def prompted_model(tiny_model, tmp_path_factory):
    return prompted_embedder(tiny_model("bert", "embed", seed=3), tmp_path_factory.mktemp("prompts") / "m", PROMPTS)


def test_prompt_name_puts_the_prompt_before_each_text(prompted_model):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(prompted_model), device="cpu")
    with Engine(str(prompted_model), num_threads=1) as engine:
        plain = np.array(engine.embed(TEXTS))
        query = np.array(engine.embed(TEXTS, prompt_name="query"))
        by_hand = np.array(engine.embed([PROMPTS["query"] + t for t in TEXTS]))
        with pytest.raises(ValueError, match="prompt_name 'doc' is not one of the model's prompts \\(passage, query\\)"):
            engine.embed(TEXTS, prompt_name="doc")
        with pytest.raises(ValueError, match="applies to text inputs, not to token ids"):
            engine.embed([[5, 6, 7]], prompt_name="query")
    np.testing.assert_allclose(query, by_hand, atol=1e-6)
    np.testing.assert_allclose(query, st.encode(TEXTS, prompt_name="query"), atol=1e-5)
    np.testing.assert_allclose(plain, st.encode(TEXTS), atol=1e-5)
    assert np.abs(query - plain).max() > 1e-3


def test_cohere_input_type_picks_the_prompt_as_sentence_transformers_does(prompted_model):
    """search_query -> "query" (encode_query), search_document -> "passage" (the saved prompts), a
    prompt's own name as itself; a Cohere type without a prompt embeds the bare text; others are refused."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(prompted_model), device="cpu")
    server = Server(prompted_model, "--num-threads", "1")
    try:
        server.wait_ready()

        def embed(input_type):
            r = requests.post(server.url + "/v2/embed", json={"texts": TEXTS, "input_type": input_type}, timeout=60)
            return r

        np.testing.assert_allclose(embed("search_query").json()["embeddings"]["float"], st.encode_query(TEXTS), atol=1e-5)
        # sentence-transformers >= 6 gives every model an empty "document" prompt, which its encode_document
        # then picks ahead of a saved "passage"; the saved prompts are read here, as sentence-transformers 5 did.
        passage = st.encode(TEXTS, prompt_name="passage")
        np.testing.assert_allclose(embed("search_document").json()["embeddings"]["float"], passage, atol=1e-5)
        np.testing.assert_allclose(embed("passage").json()["embeddings"]["float"], passage, atol=1e-5)
        np.testing.assert_allclose(embed("clustering").json()["embeddings"]["float"], st.encode(TEXTS), atol=1e-5)
        refused = embed("retrieval.query")
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == (
            "Unsupported input_type 'retrieval.query'. Supported values: classification, clustering, passage, query, "
            "search_document, search_query"
        )
        assert embed("image").status_code == 400
    finally:
        assert server.stop() == 0, server.output()[-4000:]
