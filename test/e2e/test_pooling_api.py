"""vLLM classify / score, Jina and Cohere rerank over real HTTP, against real launch_server processes.

Two servers for the module:
- ``reranker``: a tiny Qwen3 *causal* checkpoint served as the original Qwen3-Reranker
  (``is_original_qwen3_reranker``: head from the [no, yes] LM-head rows + the built-in template),
  with MIS on. Its scores are checked against ``transformers`` running the causal model on the
  full prompt: softmax over the [no, yes] next-token logits.
- ``classifier``: a tiny Qwen2 2-label classifier (byte-level BPE, so any text tokenizes) with
  vLLM's example labels, for /classify.
"""

from __future__ import annotations

import json
import math

import pytest

requests = pytest.importorskip("requests")

from hf_reference import assert_scores_close, hf_scores, hf_tokenize, load_tokenizer  # noqa: E402
from make_tiny_model import delimiter_id  # noqa: E402
from proc_utils import Server  # noqa: E402

ATOL = 1e-4
QUERY = "what is the capital of california"
DOCS = ["sacramento is the capital of california", "the dog and the cat", "los angeles is a big city", ""]
# vLLM's documented /classify example.
VLLM_CLASSIFY_EXAMPLE = {
    "model": "jason9693/Qwen2.5-1.5B-apeach",
    "input": ["Loved the new café—coffee was great.", "This update broke everything. Frustrating."],
}


def qwen3_reranker_prompt(query: str, document: str, instruction: str | None = None) -> str:
    """The Qwen3-Reranker prompt, written out from its model card (independent of our template)."""
    instruction = instruction or "Given a web search query, retrieve relevant passages that answer the query"
    return (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
        'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
        f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


def reference_yes_probability(causal_dir, query: str, documents: list[str], instruction=None) -> list[float]:
    """transformers, causal model, each full prompt alone: softmax over [no, yes] at the last token."""
    tok = load_tokenizer(str(causal_dir))
    no, yes = tok.convert_tokens_to_ids("no"), tok.convert_tokens_to_ids("yes")
    scores = []
    for doc in documents:
        ids = tok(qwen3_reranker_prompt(query, doc, instruction))["input_ids"]
        scores.append(hf_scores(causal_dir, ids, [[]], label_token_ids=[no, yes], apply_softmax=True)[0][1])
    return scores


@pytest.fixture(scope="module")
def causal_dir(tiny_model):
    return tiny_model("qwen3", "causal")


@pytest.fixture(scope="module")
def reranker(causal_dir):
    server = Server(
        causal_dir, "--json-model-override-args", json.dumps({"is_original_qwen3_reranker": True}),
        "--multi-item-scoring-delimiter", str(delimiter_id(causal_dir)), "--num-threads", "1",
        "--served-model-name", "tiny-qwen3-reranker",
    )
    server.wait_ready()
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def classifier_dir(tiny_model):
    return tiny_model("qwen2", "seqcls", num_labels=2, id2label={0: "Default", 1: "Spoiled"}, label2id={"Default": 0, "Spoiled": 1})


@pytest.fixture(scope="module")
def classifier(classifier_dir):
    server = Server(classifier_dir, "--num-threads", "1")
    server.wait_ready()
    yield server
    assert server.stop() == 0


def post(server, path, body):
    return requests.post(server.url + path, json=body, timeout=60)


def assert_400(response, *fragments):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["object"] == "error" and body["code"] == 400 and body["type"] == "BadRequestError"
    for fragment in fragments:
        assert fragment in body["message"], body["message"]


# ---- rerank -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/rerank", "/v1/rerank", "/v2/rerank"])
def test_rerank_matches_the_causal_model_and_sorts(reranker, causal_dir, path):
    r = post(reranker, path, {"model": "m", "query": QUERY, "documents": DOCS})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = reference_yes_probability(causal_dir, QUERY, DOCS)
    results = body["results"]
    assert sorted(x["index"] for x in results) == list(range(len(DOCS)))
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    for x in results:
        assert abs(x["relevance_score"] - expected[x["index"]]) <= ATOL, (x, expected)
        assert x["document"] == {"text": DOCS[x["index"]]}
    assert body["model"] == "m" and body["id"].startswith("rerank-")
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    assert ("meta" in body) == (path == "/v2/rerank")


def test_rerank_is_one_mis_pass(reranker):
    before = requests.get(reranker.url + "/get_server_info", timeout=10).json()["scheduler"]
    assert post(reranker, "/rerank", {"query": QUERY, "documents": DOCS}).status_code == 200
    after = requests.get(reranker.url + "/get_server_info", timeout=10).json()["scheduler"]
    assert after["forward_sequences"] - before["forward_sequences"] == 1


def test_rerank_options(reranker):
    full = post(reranker, "/v1/rerank", {"query": QUERY, "documents": DOCS}).json()["results"]
    top = post(reranker, "/v1/rerank", {"query": QUERY, "documents": DOCS, "top_n": 2, "return_documents": False}).json()
    assert [x["index"] for x in top["results"]] == [x["index"] for x in full[:2]]
    assert all("document" not in x for x in top["results"])
    objects = post(reranker, "/v1/rerank", {"query": QUERY, "documents": [{"text": d} for d in DOCS]}).json()
    assert objects["results"] == full
    assert post(reranker, "/v1/rerank", {"query": QUERY, "documents": DOCS, "top_n": 0}).json()["results"] == full
    assert post(reranker, "/v1/rerank", {"query": QUERY, "documents": DOCS, "top_n": 99}).json()["results"] == full


def test_rerank_max_tokens_per_doc_truncates_only_the_document(reranker, causal_dir):
    r = post(reranker, "/rerank", {"query": QUERY, "documents": DOCS[:1], "max_tokens_per_doc": 2})
    cut = " ".join(DOCS[0].split()[:2])  # the word-level tokenizer: one token per word
    expected = reference_yes_probability(causal_dir, QUERY, [cut])[0]
    assert abs(r.json()["results"][0]["relevance_score"] - expected) <= ATOL


@pytest.mark.parametrize("field", ["instruction", "instruct"])  # vLLM's name, SGLang's
def test_rerank_instruction(reranker, causal_dir, field):
    r = post(reranker, "/v1/rerank", {"query": QUERY, "documents": DOCS[:2], field: "find the city"})
    expected = reference_yes_probability(causal_dir, QUERY, DOCS[:2], "find the city")
    for x in r.json()["results"]:
        assert abs(x["relevance_score"] - expected[x["index"]]) <= ATOL


@pytest.mark.parametrize(
    "body, fragments",
    [
        ({"query": QUERY, "documents": []}, ["'documents' must not be empty"]),
        ({"query": QUERY}, ["documents", "Field required"]),
        ({"documents": DOCS}, ["query", "Field required"]),
        ({"query": QUERY, "documents": DOCS, "top_n": -1}, ["'top_n' must be a non-negative integer"]),
        ({"query": QUERY, "documents": DOCS, "max_tokens_per_doc": -5}, ["max_tokens_per_doc must be a non-negative integer"]),
        ({"query": QUERY, "documents": [3]}, ["documents.0"]),
        ({"query": 7, "documents": DOCS}, ["query"]),
    ],
)
def test_rerank_bad_input_is_400(reranker, body, fragments):
    assert_400(post(reranker, "/v1/rerank", body), *fragments)


def test_rerank_ignores_unknown_fields(reranker):
    r = post(reranker, "/v2/rerank", {"query": QUERY, "documents": DOCS[:2], "priority": 3, "relevant_spans": None})
    assert r.status_code == 200 and len(r.json()["results"]) == 2


def test_cohere_sdk_client_v2(reranker, causal_dir):
    cohere = pytest.importorskip("cohere")
    client = cohere.ClientV2(api_key="unused", base_url=reranker.url)
    response = client.rerank(model="tiny-qwen3-reranker", query=QUERY, documents=DOCS, top_n=3)
    expected = reference_yes_probability(causal_dir, QUERY, DOCS)
    assert len(response.results) == 3
    best_three = sorted(range(len(DOCS)), key=lambda i: -expected[i])[:3]
    assert [r.index for r in response.results] == best_three
    for r in response.results:
        assert abs(r.relevance_score - expected[r.index]) <= ATOL


# ---- vLLM score -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [("text_1", "text_2"), ("queries", "documents"), ("queries", "items"), ("data_1", "data_2")],
)
def test_vllm_score_one_to_n(reranker, causal_dir, fields):
    for path in ("/score", "/v1/score"):
        r = post(reranker, path, {fields[0]: QUERY, fields[1]: DOCS, "model": "m"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "list" and body["id"].startswith("score-") and body["model"] == "m"
        assert [d["index"] for d in body["data"]] == list(range(len(DOCS)))
        assert all(d["object"] == "score" for d in body["data"])
        expected = reference_yes_probability(causal_dir, QUERY, DOCS)
        assert_scores_close([[d["score"]] for d in body["data"]], [[e] for e in expected], ATOL)
        assert body["usage"]["completion_tokens"] == 0


def test_vllm_score_n_to_n_and_list_of_one(reranker, causal_dir):
    queries = [QUERY, "where is the dog", QUERY]
    r = post(reranker, "/score", {"text_1": queries, "text_2": DOCS[:3]})
    assert r.status_code == 200, r.text
    expected = [reference_yes_probability(causal_dir, q, [d])[0] for q, d in zip(queries, DOCS[:3])]
    assert_scores_close([[d["score"]] for d in r.json()["data"]], [[e] for e in expected], ATOL)
    one = post(reranker, "/score", {"text_1": [QUERY], "text_2": {"text": DOCS[0]}}).json()["data"]
    assert len(one) == 1 and abs(one[0]["score"] - expected[0]) <= ATOL


def test_vllm_score_without_activation_is_the_logit(reranker):
    p = post(reranker, "/score", {"text_1": QUERY, "text_2": DOCS[:1]}).json()["data"][0]["score"]
    logit = post(reranker, "/score", {"text_1": QUERY, "text_2": DOCS[:1], "use_activation": False}).json()["data"][0]["score"]
    assert abs(logit - math.log(p / (1 - p))) <= 1e-4


def test_vllm_score_truncate_prompt_tokens(reranker, causal_dir):
    tok = load_tokenizer(str(causal_dir))
    prompt = qwen3_reranker_prompt(QUERY, DOCS[0])
    fixed = len(tok(prompt)["input_ids"]) - len(DOCS[0].split())  # everything but the document
    r = post(reranker, "/score", {"text_1": QUERY, "text_2": DOCS[:1], "truncate_prompt_tokens": fixed + 3})
    cut = " ".join(DOCS[0].split()[:3])
    assert abs(r.json()["data"][0]["score"] - reference_yes_probability(causal_dir, QUERY, [cut])[0]) <= ATOL
    assert_400(post(reranker, "/score", {"text_1": QUERY, "text_2": DOCS, "truncate_prompt_tokens": 5000}),
               "truncate_prompt_tokens value is greater than max_model_len")
    assert_400(post(reranker, "/score", {"text_1": QUERY, "text_2": DOCS, "truncate_prompt_tokens": 5}),
               "leaving no room for a document")


@pytest.mark.parametrize(
    "body, fragments",
    [
        ({"text_1": [QUERY, QUERY], "text_2": DOCS[:3]}, ["got 2 queries and 3 documents", "1:N", "N:N"]),
        ({"text_1": QUERY}, ["'text_1' and 'text_2' must be given together"]),
        ({"text_1": [], "text_2": DOCS}, ["at least one query and one document"]),
        ({"text_1": QUERY, "text_2": []}, ["at least one query and one document"]),
        ({"text_1": QUERY, "text_2": [[1, 2]]}, ["text_2"]),
    ],
)
def test_vllm_score_bad_shapes_are_400(reranker, body, fragments):
    assert_400(post(reranker, "/score", body), *fragments)


def test_sglang_body_on_the_same_route(reranker, causal_dir):
    """query/items keeps SGLang's semantics: raw head logits of query + item, no template."""
    r = post(reranker, "/v1/score", {"query": QUERY, "items": DOCS[:2]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "scoring" and len(body["scores"]) == 2
    tok = load_tokenizer(str(causal_dir))
    no, yes = tok.convert_tokens_to_ids("no"), tok.convert_tokens_to_ids("yes")
    query_ids, items_ids = hf_tokenize(causal_dir, QUERY, DOCS[:2])
    expected = hf_scores(causal_dir, query_ids, items_ids, label_token_ids=[no, yes], apply_softmax=True)
    for (logit,), (_, p_yes) in zip(body["scores"], expected):
        assert abs(1 / (1 + math.exp(-logit)) - p_yes) <= ATOL


# ---- classify ---------------------------------------------------------------------------------


def _reference_probs(model_dir, ids_list):
    return [hf_scores(model_dir, ids, [[]], apply_softmax=True)[0] for ids in ids_list]


@pytest.mark.parametrize("path", ["/classify", "/v1/classify"])
def test_vllm_documented_classify_example(classifier, classifier_dir, path):
    r = requests.post(classifier.url + path, json=VLLM_CLASSIFY_EXAMPLE, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("classify-") and body["object"] == "list" and isinstance(body["created"], int)
    assert body["model"] == VLLM_CLASSIFY_EXAMPLE["model"]
    tok = load_tokenizer(str(classifier_dir))
    ids = [tok(text)["input_ids"] for text in VLLM_CLASSIFY_EXAMPLE["input"]]
    expected = _reference_probs(classifier_dir, ids)
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert_scores_close([d["probs"] for d in body["data"]], expected, ATOL)
    for d, probs in zip(body["data"], expected):
        assert d["num_classes"] == 2
        assert d["label"] == ["Default", "Spoiled"][probs.index(max(probs))]
    assert body["usage"] == {"prompt_tokens": sum(map(len, ids)), "total_tokens": sum(map(len, ids)), "completion_tokens": 0}


def test_classify_input_forms(classifier, classifier_dir):
    tok = load_tokenizer(str(classifier_dir))
    text = "the dog and the cat"
    ids = tok(text)["input_ids"]
    expected = _reference_probs(classifier_dir, [ids])[0]
    for value in (text, [text], ids, [ids]):
        data = post(classifier, "/classify", {"input": value}).json()["data"]
        assert len(data) == 1
        assert_scores_close([data[0]["probs"]], [expected], ATOL)


def test_classify_without_activation_and_truncated(classifier, classifier_dir):
    tok = load_tokenizer(str(classifier_dir))
    ids = tok("the dog and the cat sat on the mat")["input_ids"]
    raw = post(classifier, "/classify", {"input": [ids], "use_activation": False}).json()["data"][0]["probs"]
    assert_scores_close([raw], hf_scores(classifier_dir, ids, [[]]), ATOL)
    cut = post(classifier, "/classify", {"input": [ids], "truncate_prompt_tokens": 3}).json()["data"][0]["probs"]
    assert_scores_close([cut], _reference_probs(classifier_dir, [ids[-3:]]), ATOL)
    whole = post(classifier, "/classify", {"input": [ids], "truncate_prompt_tokens": -1}).json()["data"][0]["probs"]
    assert_scores_close([whole], _reference_probs(classifier_dir, [ids]), ATOL)


def test_sglang_classify_body_gives_raw_scores(classifier, classifier_dir):
    """SGLang's /classify body (``text`` / ``input_ids``, POST or PUT): per input ``{"embedding": raw class
    scores, "meta_info"}``, one object for one input, a list for a list, as SGLang answers a reward model."""
    tok = load_tokenizer(str(classifier_dir))
    texts = ["the dog and the cat", "a red apple"]
    ids = [tok(t)["input_ids"] for t in texts]
    raw = [hf_scores(classifier_dir, x, [[]])[0] for x in ids]
    one = post(classifier, "/classify", {"model": "reward", "text": texts[0]})
    assert one.status_code == 200, one.text
    assert_scores_close([one.json()["embedding"]], raw[:1], ATOL)
    assert one.json()["meta_info"]["prompt_tokens"] == len(ids[0]) and one.json()["meta_info"]["id"]
    many = requests.put(classifier.url + "/classify", json={"text": texts, "rid": ["r1", "r2"]}, timeout=60).json()
    assert [m["meta_info"]["id"] for m in many] == ["r1", "r2"]
    assert_scores_close([m["embedding"] for m in many], raw, ATOL)
    by_ids = post(classifier, "/classify", {"input_ids": ids[1]}).json()
    assert_scores_close([by_ids["embedding"]], raw[1:], ATOL)
    assert_400(post(classifier, "/classify", {"text": "x", "dimensions": 2}), "'dimensions' applies to embedding models")


@pytest.mark.parametrize(
    "body, fragments",
    [
        ({"input": []}, ["'input' must be a non-empty"]),
        ({"input": ""}, ["input 0 is empty"]),
        ({"input": ["the dog", ""]}, ["input 1 is empty"]),
        ({"input": "the dog", "truncate_prompt_tokens": 5000}, ["truncate_prompt_tokens value is greater than max_model_len"]),
        ({"input": "the dog", "truncate_prompt_tokens": 0}, ["positive number of tokens"]),
        ({"input": [[1, 2], "x"]}, ["input"]),
        ({"input": [10**9]}, ["outside the vocabulary"]),
        ({}, ["input", "Field required"]),
    ],
)
def test_classify_bad_input_is_400(classifier, body, fragments):
    assert_400(post(classifier, "/classify", body), *fragments)


def test_classify_ignores_unknown_fields(classifier):
    r = post(classifier, "/classify", {"input": "the dog", "priority": 1, "user": "me", "dimensions": 3})
    assert r.status_code == 200 and r.json()["data"][0]["num_classes"] == 2


def test_rerank_and_vllm_score_need_one_label(classifier):
    assert_400(post(classifier, "/rerank", {"query": "q", "documents": ["d"]}), "num_labels=2", "classifier_from_token")
    assert_400(post(classifier, "/score", {"text_1": "q", "text_2": ["d"]}), "num_labels=2")
    # The server keeps serving after the errors.
    assert post(classifier, "/classify", {"input": "the dog"}).status_code == 200


def test_reranker_classify_is_the_yes_probability(reranker, causal_dir):
    """A converted reranker has one label: classify gives sigmoid(score) of the bare input."""
    tok = load_tokenizer(str(causal_dir))
    ids = tok("the dog")["input_ids"]
    data = post(reranker, "/classify", {"input": "the dog"}).json()["data"][0]
    no, yes = tok.convert_tokens_to_ids("no"), tok.convert_tokens_to_ids("yes")
    expected = hf_scores(causal_dir, ids, [[]], label_token_ids=[no, yes], apply_softmax=True)[0][1]
    assert data["num_classes"] == 1 and data["label"] == "LABEL_0"
    assert abs(data["probs"][0] - expected) <= ATOL
