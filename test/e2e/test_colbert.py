"""ColBERT (late interaction) against pylate, the library these checkpoints are made with, on tiny
checkpoints it saved itself: pylate's files on BERT, ModernBERT and XLM-R (query expansion with and
without attention to the [MASK] tokens, and without expansion), and Stanford's HF_ColBERT layout.
pylate pins transformers <= 5.3, so it runs from its own virtual environment
(``bash test/reference/setup.sh``; CI makes it) as a subprocess: test/reference/pylate_reference.py.

Also: vLLM's way (``--colbert-style vllm``: every token of each plainly tokenized text) against
transformers' encoder with the projection applied by hand, as vLLM's own ColBERT test checks it; and
over HTTP the routes a ColBERT model serves and refuses.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests
import torch
import torch.nn.functional as F

from multiscore import Engine
from proc_utils import Server
from reference_venv import run_reference

ATOL = 1e-4

# Words of the tiny vocabulary (pylate's skiplist maps a character outside it to [UNK], which it then skips),
# punctuation for the skiplist, and texts longer than the tiny lengths (8 query tokens, 12 document tokens).
QUERIES = ["the capital?", "which river and which lake are in the north of the state, and why?"]
DOCUMENTS = [
    "sacramento is the capital of california.",
    "the small dog sat on the big house, and then it slept!",
    "yes",
    "the river (north) and the lake: a long valley; the forest - and the old coast of the west of the country",
]
LENGTHS = ["--query-length", "8", "--document-length", "12"]
VARIANTS = ["pylate-bert", "pylate-bert-attend", "pylate-bert-no-expansion", "pylate-modernbert", "pylate-xlmr",
            "stanford-bert"]


def pylate(*args: str) -> str:
    return run_reference("pylate_reference.py", *args)


def _encode_args(path) -> list:
    return ["encode", "--model", path, "--queries", json.dumps(QUERIES), "--documents", json.dumps(DOCUMENTS)]


_ENCODED: dict = {}  # checkpoint path -> pylate's answer (the module's checkpoints: one pylate process for all)


def pylate_encode(path) -> dict:
    """pylate's settings, tokens, vectors and MaxSim scores for QUERIES x DOCUMENTS."""
    if str(path) not in _ENCODED:
        _ENCODED[str(path)] = json.loads(pylate(*_encode_args(path)))
    return _ENCODED[str(path)]


def pylate_scores(path) -> np.ndarray:
    """[len(QUERIES), len(DOCUMENTS)] pylate's MaxSim scores."""
    return np.asarray(pylate_encode(path)["scores"])


@pytest.fixture(scope="module")
def checkpoints(tiny_model, tmp_path_factory):
    """name -> a checkpoint directory saved by pylate (made once per module)."""
    root = tmp_path_factory.mktemp("colbert")
    bert, modernbert, xlmr = (tiny_model(arch, "embed") for arch in ("bert", "modernbert", "xlm_roberta"))
    commands = {
        "pylate-bert": ["make-pylate", "--base", bert, *LENGTHS],
        "pylate-bert-attend": ["make-pylate", "--base", bert, *LENGTHS, "--attend-to-expansion-tokens"],
        "pylate-bert-no-expansion": ["make-pylate", "--base", bert, *LENGTHS, "--no-query-expansion"],
        "pylate-modernbert": ["make-pylate", "--base", modernbert, *LENGTHS],
        "pylate-xlmr": ["make-pylate", "--base", xlmr, *LENGTHS],  # SentencePiece: <s> [Q] ... </s> <mask>
        "stanford-bert": ["make-stanford", "--base", bert, "--query-maxlen", "8", "--doc-maxlen", "12"],
    }
    made = {name: root / name for name in commands}
    # One pylate process makes every checkpoint, then encodes with each (its start-up is most of a run).
    batch = [[*cmd, "--out", made[name]] for name, cmd in commands.items()] + [_encode_args(p) for p in made.values()]
    answers = json.loads(pylate("batch", "--commands", json.dumps(batch, default=str)))[len(commands):]
    _ENCODED.update({str(path): answer for path, answer in zip(made.values(), answers)})
    return made


def engine_scores(path, vectors: bool = False, **engine_args):
    """[len(QUERIES), len(DOCUMENTS)] rerank scores; ``vectors``: also the index vectors of
    ``pool(..., input_type=...)``: (scores, query vectors, document vectors)."""
    with Engine(str(path), num_threads=1, **engine_args) as engine:
        rows = []
        for query in QUERIES:
            by_index = {r.index: r.relevance_score for r in engine.rerank(query, DOCUMENTS)}
            rows.append([by_index[i] for i in range(len(DOCUMENTS))])
        if vectors:
            return np.asarray(rows), engine.pool(QUERIES, input_type="query"), engine.pool(DOCUMENTS, input_type="document")
    return np.asarray(rows)


@pytest.mark.parametrize("name", VARIANTS)
def test_engine_rerank_and_index_vectors_equal_pylate(checkpoints, name):
    """Scores, and the vectors pylate's ``encode`` gives an index: a query's every token (its [MASK]
    expansion included), a document's without the skiplist's tokens."""
    ref = pylate_encode(checkpoints[name])
    got, queries, documents = engine_scores(checkpoints[name], vectors=True)
    np.testing.assert_allclose(got, np.asarray(ref["scores"]), atol=ATOL, rtol=1e-5)
    for mine, theirs in zip(queries + documents, ref["query_embeddings"] + ref["document_embeddings"]):
        assert np.shape(mine) == np.shape(theirs)
        np.testing.assert_allclose(mine, theirs, atol=ATOL)


def test_many_documents_are_tokenized_on_the_tokenizer_thread_to_the_same_scores(checkpoints):
    """256+ documents go to the tokenizer thread (its own tokenizer): the scores stay the ones the
    event loop's tokenizer gives a short request."""
    with Engine(str(checkpoints["pylate-bert"]), num_threads=1) as engine:
        few = {r.index: r.relevance_score for r in engine.rerank(QUERIES[0], DOCUMENTS)}
        many = {r.index: r.relevance_score for r in engine.rerank(QUERIES[0], DOCUMENTS * 100)}
        scored = engine.score(QUERIES[0], DOCUMENTS * 100).scores
    for i in range(len(DOCUMENTS) * 100):
        assert many[i] == pytest.approx(few[i % len(DOCUMENTS)], abs=1e-5)
        assert scored[i][0] == pytest.approx(few[i % len(DOCUMENTS)], abs=1e-5)


@pytest.mark.parametrize("name", VARIANTS)
def test_tokens_equal_pylates(checkpoints, name):
    """The ids each side encodes: markers, cuts, [MASK] expansion; which tokens attend to the
    expansion (pylate's attention mask); which document tokens MaxSim skips."""
    from multiscore.configs.pooling_config import read_pooling_config
    from multiscore.tokenizer.late_interaction import LateInteractionInputs
    from transformers import AutoTokenizer

    path = checkpoints[name]
    ref = pylate_encode(path)
    inputs = LateInteractionInputs(AutoTokenizer.from_pretrained(str(path)),
                                   read_pooling_config(str(path), is_encoder=True).late_interaction, "pylate", 512)
    ids, key_lens = inputs.queries(QUERIES)
    for got, key_len, expected in zip(ids, key_lens, ref["query_tokens"]):
        assert got == expected["input_ids"]
        assert (key_len or len(got)) == sum(expected["attention_mask"])  # None: every token attended
    for got, expected in zip(inputs.documents(DOCUMENTS), ref["document_tokens"]):
        real = [i for i, m in zip(expected["input_ids"], expected["attention_mask"]) if m]
        assert got == real
        kept = [i for i, k in zip(expected["input_ids"], expected["kept"]) if k]
        assert [i for i in got if i not in inputs.skip_token_ids] == kept
    assert set(inputs.skip_token_ids) == set(ref["settings"]["skiplist_ids"])


def test_the_variants_score_differently(checkpoints):
    """So the comparisons above tell the variants apart: attending to the [MASK] tokens, expansion
    off and vLLM's plain tokenization each change every score of the short query (the long one
    fills its 8 tokens: no [MASK] to attend to)."""
    base = pylate_scores(checkpoints["pylate-bert"])
    for other in ("pylate-bert-attend", "pylate-bert-no-expansion"):
        assert np.abs(pylate_scores(checkpoints[other])[0] - base[0]).min() > 1e-3, other
    stanford = checkpoints["stanford-bert"]
    assert np.abs(_vllm_reference(stanford) - pylate_scores(stanford)).min() > 1e-3


def _vllm_reference(path) -> np.ndarray:
    """vLLM's ColBERT: transformers' BertModel on each plainly tokenized text, the checkpoint's
    linear.weight applied by hand, L2-normalised, MaxSim over every token (its test_colbert.py)."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertModel

    tokenizer, model = AutoTokenizer.from_pretrained(str(path)), BertModel.from_pretrained(str(path)).eval()
    weight = load_file(str(path / "model.safetensors"))["linear.weight"]

    def vectors(text):
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        return F.normalize(F.linear(hidden, weight), dim=-1)

    return np.asarray([[float((vectors(q) @ vectors(d).T).amax(1).sum()) for d in DOCUMENTS] for q in QUERIES])


def test_vllm_style_equals_vllms_reference(checkpoints):
    path = checkpoints["stanford-bert"]
    np.testing.assert_allclose(engine_scores(path, colbert_style="vllm"), _vllm_reference(path), atol=ATOL, rtol=1e-5)


@pytest.fixture(scope="module")
def server(checkpoints):
    server = Server(checkpoints["pylate-bert"], "--num-threads", "1")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_http_score_routes_equal_pylate(server, checkpoints):
    expected = pylate_scores(checkpoints["pylate-bert"])
    url = server.url
    ref = pylate_encode(checkpoints["pylate-bert"])
    for input_type, texts, vectors in [("query", QUERIES, ref["query_embeddings"]),
                                       ("document", DOCUMENTS, ref["document_embeddings"])]:  # vLLM's /pooling input_type
        r = requests.post(url + "/pooling", json={"input": texts, "input_type": input_type}, timeout=60)
        assert r.status_code == 200, r.text
        for got, theirs in zip(r.json()["data"], vectors):
            np.testing.assert_allclose(got["data"], theirs, atol=ATOL)
    r = requests.post(url + "/rerank", json={"query": QUERIES[0], "documents": DOCUMENTS}, timeout=60)  # Jina / Cohere
    assert r.status_code == 200, r.text
    got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
    np.testing.assert_allclose([got[i] for i in range(len(DOCUMENTS))], expected[0], atol=ATOL, rtol=1e-5)
    r = requests.post(url + "/score", json={"text_1": QUERIES, "text_2": DOCUMENTS[:2]}, timeout=60)  # vLLM N:N
    assert r.status_code == 200, r.text
    np.testing.assert_allclose([x["score"] for x in r.json()["data"]], [expected[0, 0], expected[1, 1]], atol=ATOL, rtol=1e-5)
    r = requests.post(url + "/v1/score", json={"query": QUERIES[1], "items": DOCUMENTS}, timeout=60)  # SGLang
    assert r.status_code == 200, r.text
    np.testing.assert_allclose([row[0] for row in r.json()["scores"]], expected[1], atol=ATOL, rtol=1e-5)
    r = requests.post(url + "/rerank", json={"query": QUERIES[0], "texts": DOCUMENTS}, timeout=60)  # TEI
    assert r.status_code == 200, r.text
    got = {x["index"]: x["score"] for x in r.json()}
    np.testing.assert_allclose([got[i] for i in range(len(DOCUMENTS))], expected[0], atol=ATOL, rtol=1e-5)


def test_http_token_vectors_and_refusals(server):
    r = requests.post(server.url + "/pooling", json={"input": [DOCUMENTS[0]]}, timeout=60)  # default task: token_embed
    assert r.status_code == 200, r.text
    vectors = np.asarray(r.json()["data"][0]["data"])
    assert vectors.shape[1] == 16 and vectors.shape[0] >= 3  # [tokens, projection size]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    r = requests.post(server.url + "/v1/embeddings", json={"input": "x"}, timeout=60)
    assert r.status_code == 400 and "ColBERT" in r.json()["message"] and "token_embed" in r.json()["message"], r.text
    r = requests.post(server.url + "/rerank", json={"query": "q", "documents": ["d"], "use_activation": True}, timeout=60)
    assert r.status_code == 400 and "MaxSim" in r.json()["message"], r.text
    for body, message in [
        ({"input_type": "passage"}, "input_type must be 'query' or 'document'"),
        ({"input_type": "query", "task": "token_classify"}, "input_type is only supported with task 'token_embed'."),
        ({"input_type": "query", "input": [[101, 2054, 102]]}, "input_type applies to text inputs"),
    ]:
        r = requests.post(server.url + "/pooling", json={"input": "the capital?", **body}, timeout=60)
        assert r.status_code == 400 and r.json()["message"].startswith(message), r.text
    info = requests.get(server.url + "/model_info", timeout=60).json()
    assert info["kind"] == "encoder_late_interaction" and info["tasks"] == ["score", "token_embed"]
    assert info["pooling"]["late_interaction"]["query_length"] == 8
