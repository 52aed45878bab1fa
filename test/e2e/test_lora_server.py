"""LoRA adapters served per request over real HTTP (``--lora-modules``, vLLM's flag and SGLang's
``--lora-paths`` spelling): a request picks one by ``model`` (vLLM) or ``lora_path`` (SGLang), with MIS on;
the scores equal PEFT's model on the same checkpoint, and the base model's requests are untouched.
Adapters loaded and unloaded while serving (vLLM's and SGLang's routes, ``--enable-lora``) too."""

from __future__ import annotations

import numpy as np
import pytest
import torch

requests = pytest.importorskip("requests")

from hf_reference import load_tokenizer  # noqa: E402
from make_tiny_model import delimiter_id  # noqa: E402
from peft_adapters import make_lora_adapter, peft_outputs  # noqa: E402
from proc_utils import Server  # noqa: E402

QUERY = "what is the capital of california"
DOCS = ["sacramento is the capital", "a red apple", "the dog and the cat"]


@pytest.fixture(scope="module")
def lora_server(tiny_model, tmp_path_factory):
    base = tiny_model("qwen3", "seqcls", num_labels=1)
    adapter = make_lora_adapter(base, tmp_path_factory.mktemp("lora") / "rr-lora", ["q_proj", "v_proj", "down_proj"],
                                r=4, seed=5)
    server = Server(base, "--multi-item-scoring-delimiter", str(delimiter_id(base)), "--num-threads", "1",
                    "--served-model-name", "base", "--lora-modules", f"tuned={adapter}", "--enable-lora")
    server.wait_ready()
    yield server, base, adapter
    assert server.stop() == 0, server.output()[-4000:]


def _pairs(base):
    """Each (query, document) as the server tokenizes it: the query with its special tokens, then the document's own."""
    tok = load_tokenizer(str(base))
    return [tok(QUERY)["input_ids"] + tok(d, add_special_tokens=False)["input_ids"] for d in DOCS]


def post(server, path, body):
    return requests.post(server.url + path, json=body, timeout=60)


def test_a_request_picks_its_adapter_by_model_or_lora_path(lora_server):
    server, base, adapter = lora_server
    body = {"query": QUERY, "items": DOCS}  # SGLang's /v1/score, the items packed as MIS
    tuned = post(server, "/v1/score", {**body, "model": "tuned"})
    assert tuned.status_code == 200, tuned.text
    by_path = post(server, "/v1/score", {**body, "lora_path": "tuned"})
    plain = post(server, "/v1/score", body)
    got, got_path, got_base = (np.array(r.json()["scores"]).ravel() for r in (tuned, by_path, plain))
    expected = torch.stack(peft_outputs(base, adapter, _pairs(base))).ravel().numpy()
    expected_base = torch.stack(peft_outputs(base, None, _pairs(base))).ravel().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(got_path, expected, atol=1e-4)
    np.testing.assert_allclose(got_base, expected_base, atol=1e-4)
    assert np.abs(expected - expected_base).max() > 1e-3


def test_rerank_with_an_adapter_and_the_model_list(lora_server):
    server, base, adapter = lora_server
    r = post(server, "/rerank", {"model": "tuned", "query": QUERY, "documents": DOCS, "use_activation": False})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "tuned"
    got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
    expected = peft_outputs(base, adapter, _pairs(base))
    np.testing.assert_allclose([got[i] for i in range(len(DOCS))], torch.stack(expected).ravel().numpy(), atol=1e-4)
    cards = {m["id"]: m for m in requests.get(server.url + "/v1/models", timeout=10).json()["data"]}
    assert cards["tuned"]["parent"] == "base" and cards["tuned"]["root"] == str(adapter)


def test_an_unknown_lora_path_is_a_400(lora_server):
    server, _, _ = lora_server
    r = post(server, "/v1/score", {"query": QUERY, "items": DOCS, "lora_path": "other"})
    assert r.status_code == 400 and "lora_path 'other' is not a served adapter; served:" in r.text
    assert post(server, "/v1/score", {"query": QUERY, "items": DOCS}).status_code == 200


def test_adapters_load_and_unload_while_serving(lora_server, tmp_path):
    server, base, _ = lora_server
    late = make_lora_adapter(base, tmp_path / "late", ["k_proj", "up_proj"], r=2, seed=7)
    r = post(server, "/v1/load_lora_adapter", {"lora_name": "late", "lora_path": str(late)})  # vLLM's
    assert r.status_code == 200 and r.text == "Success: LoRA adapter 'late' added successfully.", r.text
    expected = torch.stack(peft_outputs(base, late, _pairs(base))).ravel().numpy()
    got = np.array(post(server, "/v1/score", {"query": QUERY, "items": DOCS, "model": "late"}).json()["scores"]).ravel()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    again = post(server, "/v1/load_lora_adapter", {"lora_name": "late", "lora_path": str(late)})
    assert again.status_code == 400 and "The lora adapter 'late' has already been loaded." in again.text
    sglang = post(server, "/load_lora_adapter", {"lora_name": "late2", "lora_path": str(late)})  # SGLang's
    assert sglang.json()["success"] is True and set(sglang.json()["loaded_adapters"]) == {"tuned", "late", "late2"}
    bad = post(server, "/load_lora_adapter", {"lora_name": "bad", "lora_path": str(tmp_path)})
    assert bad.status_code == 400 and "has no adapter_config.json" in bad.json()["error_message"]
    assert post(server, "/v1/unload_lora_adapter", {"lora_name": "late"}).status_code == 200
    gone = post(server, "/v1/score", {"query": QUERY, "items": DOCS, "model": "late"})
    assert gone.status_code == 404 and "The model `late` does not exist." in gone.text  # never the base model's scores
    ids = {m["id"] for m in requests.get(server.url + "/v1/models", timeout=10).json()["data"]}
    assert ids == {"base", "tuned", "late2"}
    still = np.array(post(server, "/v1/score", {"query": QUERY, "items": DOCS, "lora_path": "late2"}).json()["scores"])
    np.testing.assert_allclose(still.ravel(), expected, atol=1e-4)


def test_a_server_without_enable_lora_loads_none_and_refuses_a_lora_path(reranker_mis_server, tmp_path):
    r = post(reranker_mis_server, "/v1/load_lora_adapter", {"lora_name": "x", "lora_path": str(tmp_path)})
    assert r.status_code == 400 and "needs --enable-lora" in r.text
    r = post(reranker_mis_server, "/v1/score", {"query": QUERY, "items": DOCS, "lora_path": "x"})
    assert r.status_code == 400 and "lora_path 'x' is not a served adapter" in r.text
