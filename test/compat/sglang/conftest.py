"""Shared fixtures for the ports of SGLang's scoring tests (test/compat/sglang/).

Each upstream test class started its own ``Engine`` or ``launch_server`` with a real model
(Llama-3.2-1B-Instruct, Qwen3-0.6B, Qwen2.5-1.5B, Qwen3-Reranker-0.6B-seq-cls, a tiny
LlamaForSequenceClassification). Here every upstream model is a tiny random checkpoint of the same
architecture (``tiny_model`` in test/conftest.py), and each runtime is started once per session and
shared by every test that needs it. The runtimes a run needs are started together, in threads, on
first use, so that their start-ups overlap.

Runtimes are built with SGLang's own arguments, as the upstream tests build them (``enable_mis=True``,
``disable_radix_cache=True``, ``--chunked-prefill-size -1``, ...): a user switching from SGLang keeps
those calls. The only arguments added are ``num_threads=1`` / ``--num-threads 1`` (speed on a small
machine), ``device="cpu"`` for servers, and ``seed=42`` on one engine (see ``seqcls_mis_engine``);
``attention_backend="flashinfer"`` is dropped (a GPU kernel choice; multi-item scoring runs on the
torch backend here, DESIGN.md §4).

The reference (transformers) and the label-id helpers are in sglang_reference.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading

import pytest

from make_tiny_model import delimiter_id
from proc_utils import Server

# Upstream model -> tiny checkpoint of the same architecture (kwargs of tiny_model).
MODELS = {
    # DEFAULT_SMALL_MODEL_NAME_FOR_TEST = meta-llama/Llama-3.2-1B-Instruct (a BOS tokenizer)
    "llama_causal": dict(arch="llama", head="causal"),
    # DEFAULT_SMALL_MODEL_NAME_FOR_TEST_QWEN = Qwen/Qwen2.5-1.5B-Instruct
    "qwen2_causal": dict(arch="qwen2", head="causal"),
    # Qwen/Qwen3-0.6B (the base of every json_model_override_args classifier upstream) and
    # DEFAULT_SMALL_MODEL_NAME_FOR_TEST_SCORE = Qwen/Qwen3-Reranker-0.6B (a Qwen3ForCausalLM checkpoint)
    "qwen3_causal": dict(arch="qwen3", head="causal"),
    # tomaarsen/Qwen3-Reranker-0.6B-seq-cls: a stored Qwen3ForSequenceClassification head, one label
    "qwen3_reranker": dict(arch="qwen3", head="seqcls", num_labels=1),
    # trl-internal-testing/tiny-LlamaForSequenceClassification-3.2: stored head, two labels
    "llama_cls": dict(arch="llama", head="seqcls", num_labels=2),
    # BAAI/bge-reranker-v2-m3-style single-label cross-encoder (TestSingleItemScoreShape)
    "bert_reranker": dict(arch="bert", head="seqcls", num_labels=1),
}


def seqcls_override(num_labels: int) -> str:
    """The upstream tests' json_model_override_args: Qwen3-0.6B served as a classifier."""
    return json.dumps({"architectures": ["Qwen3ForSequenceClassification"], "num_labels": num_labels})


# name -> (model, Engine keyword arguments as the upstream test class passes them)
ENGINES = {
    # prefill_only/test_score_engine.py TestCausalLMScoring, core/test_score_api.py,
    # core/test_score_api_multi_arch.py: Engine(model_path=...)
    "causal_engine": ("llama_causal", lambda p: {}),
    # prefill_only/test_multi_item_scoring.py TestMultiItemScoringOptimization / Parity (engine_mis)
    "causal_mis_engine": ("llama_causal", lambda p: dict(
        disable_radix_cache=True, chunked_prefill_size=-1, enable_mis=True, mem_fraction_static=0.15)),
    # core/test_score_api_multi_arch.py causallm_qwen
    "qwen2_engine": ("qwen2_causal", lambda p: {}),
    # core/test_score_api_multi_arch.py sequence_classification_qwen3 (Qwen3-Reranker-0.6B)
    "qwen3_engine": ("qwen3_causal", lambda p: {}),
    # prefill_only/test_score_engine.py TestSeqClsScoring
    "seqcls_engine": ("qwen3_causal", lambda p: dict(
        disable_radix_cache=True, random_seed=42, json_model_override_args=seqcls_override(2),
        mem_fraction_static=0.15)),
    # prefill_only/test_score_engine.py TestSeqClsMISScoring, plus multiscore's own seed=42: the same
    # head as seqcls_engine's random_seed=42 (test_random_seed_is_the_head_seed)
    "seqcls_mis_engine": ("qwen3_causal", lambda p: dict(
        disable_radix_cache=True, chunked_prefill_size=-1, enable_mis=True,
        json_model_override_args=seqcls_override(2), mem_fraction_static=0.15, seed=42)),
    # core/test_score_classification.py TestScoreClassificationMISAdvanced (a named delimiter)
    "seqcls12_mis_engine": ("qwen3_causal", lambda p: dict(
        disable_radix_cache=True, chunked_prefill_size=-1, multi_item_scoring_delimiter=delimiter_id(p),
        json_model_override_args=seqcls_override(12), mem_fraction_static=0.15)),
    # prefill_only/test_multi_item_scoring.py: non-MIS engines of the classification model
    "reranker_engine": ("qwen3_reranker", lambda p: dict(disable_radix_cache=True, mem_fraction_static=0.15)),
    "reranker_mis_engine": ("qwen3_reranker", lambda p: dict(
        disable_radix_cache=True, chunked_prefill_size=-1, enable_mis=True, mem_fraction_static=0.15)),
    # prefill_only/test_multi_item_scoring.py TestMultiItemScoringLlamaClassificationParity
    "llama_cls_mis_engine": ("llama_cls", lambda p: dict(
        disable_radix_cache=True, chunked_prefill_size=-1, enable_mis=True, mem_fraction_static=0.15)),
    # prefill_only/test_score_engine.py TestSingleItemScoreShape (a single-label cross-encoder)
    "bert_reranker_engine": ("bert_reranker", lambda p: {}),
}

# name -> (model, launch_server flags as the upstream test class passes them)
SERVERS = {
    # prefill_only/test_score_api.py TestCausalLMScoringHTTP: popen_launch_server(model) with no flags
    "causal_server": ("llama_causal", lambda p: []),
    # prefill_only/test_score_api.py TestCausalLMMISScoringHTTP
    "causal_mis_server": ("llama_causal", lambda p: [
        "--disable-radix-cache", "--chunked-prefill-size", "-1", "--multi-item-scoring-delimiter", str(delimiter_id(p))]),
    # prefill_only/test_pooled_hidden_states.py TestPooledHiddenStatesHTTP
    "seqcls_server": ("qwen3_causal", lambda p: [
        "--disable-radix-cache", "--json-model-override-args", seqcls_override(4), "--mem-fraction-static", "0.15"]),
}


class RuntimePool:
    """Starts engines and servers in threads, hands each out when ready, stops them all at the end."""

    def __init__(self, model_path) -> None:
        self._model_path = model_path
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=len(ENGINES) + len(SERVERS))
        self._futures: dict[str, concurrent.futures.Future] = {}
        self._lock = threading.Lock()

    def start(self, names) -> None:
        with self._lock:
            for name in sorted(names):
                if name not in self._futures:
                    self._futures[name] = self._executor.submit(self._make, name)

    def get(self, name):
        self.start([name])
        return self._futures[name].result()  # re-raises what the start raised (in every test that needs it)

    def _make(self, name):
        if name in ENGINES:
            from multiscore import Engine

            model, kwargs = ENGINES[name]
            path = self._model_path(model)
            return Engine(model_path=str(path), num_threads=1, **kwargs(path))
        model, flags = SERVERS[name]
        path = self._model_path(model)
        srv = Server(path, *flags(path), "--num-threads", "1")
        try:
            srv.wait_ready()
        except BaseException:
            srv.stop()
            raise
        srv.model_path = path
        return srv

    def close(self) -> None:
        for future in self._futures.values():
            try:
                runtime = future.result()
            except BaseException:
                continue
            if isinstance(runtime, Server):
                runtime.stop()
            else:
                runtime.shutdown()
        self._executor.shutdown()


@pytest.fixture(scope="session")
def model_path(tiny_model):
    """``model_path(name)`` -> the tiny checkpoint standing in for upstream model ``name`` (MODELS)."""
    lock = threading.Lock()

    def get(name: str):
        with lock:  # tiny_model's cache is not thread-safe
            return tiny_model(**MODELS[name])

    return get


@pytest.fixture(scope="session")
def runtimes(request, model_path):
    """Every engine and server that the collected tests use, started together on first use."""
    needed = set()
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for name in [*item.fixturenames, *(v for v in params.values() if isinstance(v, str))]:
            if name in ENGINES or name in SERVERS:
                needed.add(name)
    for name in needed:  # checkpoints first (serially), then the runtimes (in parallel)
        model_path(ENGINES.get(name, SERVERS.get(name))[0])
    pool = RuntimePool(model_path)
    pool.start(needed)
    yield pool
    pool.close()


def _runtime_fixture(name: str):
    @pytest.fixture(scope="session", name=name)
    def fixture(runtimes):
        return runtimes.get(name)

    return fixture


for _name in (*ENGINES, *SERVERS):
    globals()[f"_fixture_{_name}"] = _runtime_fixture(_name)


@pytest.fixture(scope="session", params=["causal_engine", "qwen2_engine"])
def causal_lm(request, runtimes):
    """A CausalLM engine of each tokenizer kind: the tiny Llama (word-level, BOS) and the tiny Qwen2
    (byte-level BPE, like Llama-3's own tokenizer: every upstream label word gets its own id)."""
    return runtimes.get(request.param)
