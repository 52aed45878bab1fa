"""multiscore.integrations.ray on a local Ray instance: ScoreProcessor in Ray Data gives every row
the score Engine gives it (score, rerank, classify, embed), and the Serve app answers over HTTP
as launch_server does."""

from __future__ import annotations

import random

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from hf_reference import assert_scores_close  # noqa: E402
from multiscore import Engine  # noqa: E402
from multiscore.integrations.ray import ScoreProcessor, build_app  # noqa: E402

WORDS = "the capital city of state big dog cat music summer river old man sea book movie".split()
LABELS = [5, 9, 42]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _rows(n=300, queries=6):
    rng = random.Random(0)
    qs = [_text(rng, 5) for _ in range(queries)]
    return [{"query": qs[i % queries], "item": _text(rng, rng.randrange(1, 6))} for i in range(n)]


@pytest.mark.parametrize("arch, head, task", [("qwen3", "causal", "score"), ("bert", "seqcls", "rerank")])
def test_score_processor_equals_engine_row_by_row(ray_local, tiny_model, arch, head, task):
    path = str(tiny_model(arch, head, num_labels=1))
    rows = _rows()
    labels = LABELS if head == "causal" else None
    kwargs = {"model_path": path, "task": task, "label_token_ids": labels, "device": "cpu", "num_threads": 1}
    out = ray.data.from_items(rows).map_batches(ScoreProcessor, fn_constructor_kwargs=kwargs, concurrency=1,
                                                batch_size=64).take_all()
    assert len(out) == len(rows)
    with Engine(path, device="cpu", num_threads=1) as engine:
        for query in {r["query"] for r in rows}:
            got = [o for o in out if o["query"] == query]
            items = [o["item"] for o in got]
            if task == "rerank":
                ranked = sorted(engine.rerank(query, items, return_documents=False), key=lambda r: r.index)
                expected = [[r.relevance_score] for r in ranked]
            else:
                expected = engine.score(query, items, label_token_ids=labels).scores
            assert_scores_close([np.atleast_1d(o["score"]).tolist() for o in got], expected, 1e-5)


def test_classify_and_embed_tasks(ray_local, tiny_model):
    rng = random.Random(1)
    texts = [{"text": _text(rng, rng.randrange(2, 8))} for _ in range(40)]
    cls_path, emb_path = str(tiny_model("bert", "seqcls", num_labels=3)), str(tiny_model("bert", "embed"))
    common = {"device": "cpu", "num_threads": 1}
    probs = ray.data.from_items(texts).map_batches(
        ScoreProcessor, fn_constructor_kwargs={"model_path": cls_path, "task": "classify", **common},
        concurrency=1, batch_size=16).take_all()
    emb = ray.data.from_items(texts).map_batches(
        ScoreProcessor, fn_constructor_kwargs={"model_path": emb_path, "task": "embed", **common},
        concurrency=1, batch_size=16).take_all()
    order = [t["text"] for t in texts]
    probs = sorted(probs, key=lambda r: order.index(r["text"]))
    emb = sorted(emb, key=lambda r: order.index(r["text"]))
    with Engine(cls_path, **common) as engine:
        expected = [c.probs for c in engine.classify(order)]
    assert_scores_close([list(r["probs"]) for r in probs], expected, 1e-5)
    with Engine(emb_path, **common) as engine:
        expected = engine.embed(order)
    np.testing.assert_allclose(np.array([r["embedding"] for r in emb]), np.array(expected), atol=1e-5)


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task must be one of"):
        ScoreProcessor("unused", task="generate")


def test_serve_app_answers_like_launch_server(ray_local, tiny_model):
    import requests
    from ray import serve

    from proc_utils import free_port

    path = str(tiny_model("qwen3", "causal"))
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        serve.run(build_app(model_path=path, device="cpu", num_threads=1), route_prefix="/")
        body = {"query": [20, 21, 22], "items": [[30], [31, 32]], "label_token_ids": LABELS}
        resp = requests.post(f"http://127.0.0.1:{port}/v1/score", json=body, timeout=60)
        assert resp.status_code == 200, resp.text
        with Engine(path, device="cpu", num_threads=1) as engine:
            expected = engine.score(body["query"], body["items"], label_token_ids=LABELS).scores
        assert_scores_close(resp.json()["scores"], expected, 1e-5)
        bad = requests.post(f"http://127.0.0.1:{port}/v1/score", json={"query": [1]}, timeout=60)
        assert bad.status_code == 400 and "items" in bad.json()["message"]
    finally:
        serve.shutdown()
