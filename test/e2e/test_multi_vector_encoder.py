"""ColBERT checkpoints saved by sentence-transformers 6's MultiVectorEncoder, served as ColBERT and
scored as that library scores them (MaxSim of its encode_query / encode_document vectors), on tiny
BERT checkpoints it saves here: a fresh one (no markers, no expansion), a classic one ("[Q] " /
"[D] " markers, fixed [MASK] expansion not attended to, lengths, the punctuation skiplist) and
one with min expansion attended to and meanmaxsim."""

from __future__ import annotations

import json
import string

import numpy as np
import pytest

from multiscore import Engine

QUERIES = ["what is the capital of california ?", "who", "the big red dog of the year and the capital of the country"]
DOCUMENTS = [
    "the capital of california is big .",
    "a big red dog , who ? !",
    "what is the best movie of the year ; the dog or the capital of the country of california",
    "~ who",  # "~" is not in the tiny vocabulary: the skiplist word is dropped, [UNK] rows stay
]


def _save(base, out, *, markers: bool, expansion=None, query_length=None, document_length=None,
          similarity: str = "maxsim", skiplist=()):
    from sentence_transformers import MultiVectorEncoder

    model = MultiVectorEncoder(str(base), device="cpu", similarity_fn_name=similarity)
    transformer = model[0]
    if markers:
        transformer.tokenizer.add_tokens(["[Q] ", "[D] "], special_tokens=True)
        transformer.auto_model.resize_token_embeddings(len(transformer.tokenizer))
        model.prompts = {"query": "[Q] ", "document": "[D] "}
    transformer.query_length, transformer.document_length = query_length, document_length
    transformer.query_expansion = expansion
    mask = next(m for m in model if type(m).__name__ == "MultiVectorMask")
    mask.skiplist_words = list(skiplist)
    model.save(str(out))
    return MultiVectorEncoder(str(out), device="cpu")  # the reference: the library reading what it saved


VARIANTS = {
    "fresh": dict(markers=False),
    "classic": dict(markers=True, expansion={"strategy": "fixed", "attend": False, "length": 8}, document_length=12,
                    skiplist=string.punctuation),
    "min-attend-meanmaxsim": dict(markers=True, expansion={"strategy": "min", "attend": True, "length": 8},
                                  query_length=10, document_length=14, similarity="meanmaxsim", skiplist=",.?!~"),
}


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory):
    base = tiny_model("bert", "embed", seed=31)
    root = tmp_path_factory.mktemp("mve")
    return {name: (root / name, _save(base, root / name, **kw)) for name, kw in VARIANTS.items()}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_scores_equal_sentence_transformers(saved, name):
    path, st = saved[name]
    config = json.loads((path / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "MultiVectorEncoder"
    expected = st.similarity(st.encode_query(QUERIES), st.encode_document(DOCUMENTS)).numpy()  # [Q, D]
    with Engine(str(path), num_threads=1) as engine:
        assert engine.get_server_info()["server_args"]["model_path"] == str(path)
        got = np.array([[row[0] for row in engine.score(q, DOCUMENTS).scores] for q in QUERIES])
        ranked = engine.rerank(QUERIES[0], DOCUMENTS)
        query_vectors = engine.pool([QUERIES[1]], task="token_embed")[0]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-5)
    assert [r.index for r in ranked] == list(np.argsort(-expected[0], kind="stable"))
    # /pooling's token vectors are the text's own tokens (vLLM's token_embed); without markers or
    # expansion, that is what sentence-transformers' encode_query keeps
    if name == "fresh":
        np.testing.assert_allclose(np.array(query_vectors), st.encode_query([QUERIES[1]])[0].numpy(), atol=1e-5)
    else:
        assert len(query_vectors) < len(st.encode_query([QUERIES[1]])[0])
