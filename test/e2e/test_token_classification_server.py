"""A token classifier (NER tags on a tiny BertForTokenClassification) served over HTTP: vLLM's
/pooling answers its per-token class scores by default, /model_info names the tags, and every
route that needs another kind of model refuses with what to use instead."""

from __future__ import annotations

import numpy as np
import pytest
import requests
import torch

from proc_utils import Server

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TEXTS = ["the big red dog", "what is the capital of california ?"]
REFUSAL = ("this model (BertForTokenClassification) is a token classifier: it gives class scores for every token, "
           "not {}; use /pooling with task 'token_classify'")


@pytest.fixture(scope="module")
def ner_model(tiny_model):
    return tiny_model("bert", "tokcls", num_labels=5, seed=12, id2label=dict(enumerate(TAGS)),
                      label2id={t: i for i, t in enumerate(TAGS)})


@pytest.fixture(scope="module")
def server(ner_model):
    srv = Server(ner_model, "--num-threads", "1")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()[-4000:]


@pytest.fixture(scope="module")
def reference(ner_model):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ner_model))
    model = AutoModelForTokenClassification.from_pretrained(str(ner_model), dtype=torch.float32).eval()
    with torch.no_grad():
        return [model(**tok(t, return_tensors="pt")).logits[0].numpy() for t in TEXTS]  # [T, 5] each


def _post(server, route, body):
    return requests.post(server.url + route, json=body, timeout=60)


def test_pooling_answers_each_tokens_tag_scores(server, reference):
    r = _post(server, "/pooling", {"input": TEXTS})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    for got, logits in zip(data, reference):
        probs = torch.tensor(logits).softmax(-1).numpy()
        np.testing.assert_allclose(np.array(got["data"]), probs, atol=1e-5)
    assert r.json()["usage"]["prompt_tokens"] == sum(len(x) for x in reference)
    raw = _post(server, "/pooling", {"input": TEXTS[0], "task": "token_classify", "use_activation": False}).json()
    np.testing.assert_allclose(np.array(raw["data"][0]["data"]), reference[0], atol=1e-5)


def test_model_info_names_the_tags(server):
    info = requests.get(server.url + "/model_info", timeout=10).json()
    assert info["kind"] == "encoder_token_classifier" and info["tasks"] == ["token_classify"]
    assert info["labels"] == TAGS and info["num_labels"] == 5 and info["is_encoder"]


@pytest.mark.parametrize("route, body, task", [
    ("/classify", {"input": TEXTS}, "classify"),
    ("/pooling", {"input": TEXTS, "task": "classify"}, None),
    ("/v1/embeddings", {"input": TEXTS}, "embed"),
    ("/rerank", {"query": "who", "documents": TEXTS}, "score"),
    ("/v1/score", {"query": "who", "items": TEXTS}, "classify"),
    ("/predict", {"inputs": TEXTS[0]}, "classify"),
])
def test_other_tasks_are_refused_with_what_to_use(server, route, body, task):
    r = _post(server, route, body)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    if task is None:  # vLLM's wording for a task the model lacks
        assert message == ("Unsupported task: 'classify'. This model (BertForTokenClassification) supports: "
                           "token_classify")
    else:
        assert message == REFUSAL.format(task)
