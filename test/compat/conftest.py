"""Servers shared by the compatibility suites (test/compat/vllm, test/compat/clients).

Each server stands in for the model of one upstream vLLM test module, as a tiny random checkpoint
of the same family (or the real all-MiniLM weights of the default model), served by a real
``python -m multiscore.launch_server`` on CPU with ``--num-threads 1``.

Start-up dominates the suite's time, so the servers that the selected tests need are all started
at once, at the beginning of the session (``_prestart``), and each server fixture then only waits
for its own to be ready. Every server runs for the whole session and is stopped at its end.
"""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

_HERE = pathlib.Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from compat_helpers import (  # noqa: E402
    CHATML_TEMPLATE,
    DUMMY_CHAT_TEMPLATE,
    TEMPLATE_DIR,
    add_added_token,
    set_chat_template,
)
from remote_code_checkpoints import as_llama_bidirectional  # noqa: E402
from st_files import write_sentence_transformers_files  # noqa: E402

# The upstream tests' --hf-overrides. Each server below is started with the upstream test's own vLLM
# flags (--max-model-len, --hf-overrides, --chat-template, --runner, --enforce-eager ...), which
# launch_server takes as vLLM does (entrypoints/vllm_args.py); only --dtype is left out (the
# stand-ins are float32 checkpoints compared at float32 tolerances).
QWEN3_RERANKER_OVERRIDES = {
    "architectures": ["Qwen3ForSequenceClassification"],
    "classifier_from_token": ["no", "yes"],
    "is_original_qwen3_reranker": True,
}
GEMMA_OVERRIDES = {  # tests/entrypoints/pooling/scoring/test_max_tokens_per_doc.py, on a Qwen3 body
    "architectures": ["Qwen3ForSequenceClassification"],
    "classifier_from_token": ["Yes"],
    "method": "no_post_processing",
}
MXBAI_OVERRIDES = {  # tests/models/language/pooling_mteb_test/test_mxbai_rerank.py
    "architectures": ["Qwen2ForSequenceClassification"],
    "classifier_from_token": ["0", "1"],
    "method": "from_2_way_softmax",
}


def _cross_encoder(tiny_model):
    # BAAI/bge-reranker-base / bge-reranker-v2-m3 / jina-reranker-v2: XLM-R cross-encoders, one label.
    path = tiny_model("xlm_roberta", "seqcls", num_labels=1)
    return path, ["--runner", "pooling", "--enforce-eager", "--max-model-len", "100", "--served-model-name",
                  "BAAI/bge-reranker-base"]


def _jina_reranker(tiny_model):
    # jinaai/jina-reranker-v2-base-multilingual (scoring/test_max_tokens_per_doc.py, --max-model-len 256):
    # the cross-encoder checkpoint above, --context-length 256.
    path = tiny_model("xlm_roberta", "seqcls", num_labels=1)
    return path, ["--max-model-len", "256", "--served-model-name", "jinaai/jina-reranker-v2-base-multilingual"]


def _bi_encoder(tiny_model):
    # BAAI/bge-base-en-v1.5: BERT, CLS pooling, normalised.
    path = tiny_model("bert", "embed", seed=1)
    write_sentence_transformers_files(path, pooling="cls", normalize=True, max_seq_length=512)
    return path, ["--runner", "pooling", "--enforce-eager", "--max-model-len", "100", "--served-model-name",
                  "BAAI/bge-base-en-v1.5"]


def _embedder(tiny_model):
    # intfloat/multilingual-e5-small: XLM-R, mean pooling, normalised; served with DUMMY_CHAT_TEMPLATE
    # given on the command line, as upstream (its tokenizer has no chat template of its own).
    # Its 514 position embeddings (512 tokens after XLM-R's padding offset), as upstream's.
    path = tiny_model("xlm_roberta", "embed", seed=2, max_position_embeddings=514)
    write_sentence_transformers_files(path, pooling="mean", normalize=True, max_seq_length=512)
    return path, ["--runner", "pooling", "--enforce-eager", "--max-model-len", "512", "--chat-template", DUMMY_CHAT_TEMPLATE,
                  "--served-model-name", "intfloat/multilingual-e5-small"]


def _embedder_chunked(tiny_model):
    # embed/test_online_long_text.py: the e5 stand-in with upstream's flags, chunked processing on.
    path, _ = _embedder(tiny_model)
    pooler = '{"pooling_type": "MEAN", "use_activation": true, "enable_chunked_processing": true, "max_embed_len": 10000}'
    return path, ["--runner", "pooling", "--enforce-eager", "--max-model-len", "512", "--pooler-config", pooler,
                  "--gpu-memory-utilization", "0.8", "--served-model-name", "intfloat/multilingual-e5-small"]


def _minilm(tiny_model):
    # sentence-transformers/all-MiniLM-L12-v2 upstream; the default model (real all-MiniLM-L6-v2) here.
    # Beside vLLM's --max-model-len, the flags of an Infinity launch command (infinity_emb v2 ...),
    # whose client test_client_infinity.py points at this server.
    return None, ["--max-model-len", "128", "--engine", "torch", "--batch-size", "32", "--no-model-warmup",
                  "--url-prefix", "/v1", "--pooling-method", "auto", "--no-bettertransformer"]


def _classifier(tiny_model):
    # jason9693/Qwen2.5-1.5B-apeach: a Qwen2 classifier with labels Default / Spoiled and a ChatML template.
    path = tiny_model("qwen2", "seqcls", num_labels=2, seed=3,
                      id2label={0: "Default", 1: "Spoiled"}, label2id={"Default": 0, "Spoiled": 1})
    set_chat_template(path, CHATML_TEMPLATE)
    return path, ["--runner", "pooling", "--enforce-eager", "--max-model-len", "512", "--served-model-name",
                  "jason9693/Qwen2.5-1.5B-apeach"]


def _qwen3_reranker(tiny_model):
    # Qwen/Qwen3-Reranker-0.6B with vLLM's hf_overrides and examples/.../qwen3_reranker.jinja. Its
    # tokenizer also carries DUMMY_CHAT_TEMPLATE for the /pooling conversation tests (pooling/test_online.py).
    path = tiny_model("qwen3", "causal", seed=4)
    set_chat_template(path, DUMMY_CHAT_TEMPLATE)
    # Upstream gives the template as --chat-template; here it is --score-template, so that the
    # tokenizer's own chat template (DUMMY_CHAT_TEMPLATE) still renders the /pooling conversations.
    return path, [
        "--runner", "pooling", "--enforce-eager", "--max-model-len", "512", "--gpu-memory-utilization", "0.2",
        "--served-model-name", "Qwen/Qwen3-Reranker-0.6B", "--hf-overrides", json.dumps(QWEN3_RERANKER_OVERRIDES),
        "--score-template", str(TEMPLATE_DIR / "qwen3_reranker.jinja"),
    ]


def _gemma_reranker(tiny_model):
    # BAAI/bge-reranker-v2-gemma's conversion (classifier_from_token ["Yes"], no_post_processing) and
    # examples/.../bge-reranker-v2-gemma.jinja on a tiny Qwen3 body whose tokenizer knows "Yes".
    path = tiny_model("qwen3", "causal", seed=5)
    add_added_token(path, "Yes")
    return path, [
        "--max-model-len", "256", "--served-model-name", "BAAI/bge-reranker-v2-gemma",
        "--hf-overrides", json.dumps(GEMMA_OVERRIDES), "--chat-template", str(TEMPLATE_DIR / "bge-reranker-v2-gemma.jinja"),
    ]


def _mxbai_reranker(tiny_model):
    # mixedbread-ai/mxbai-rerank-base-v2: Qwen2 causal LM, classifier_from_token ["0", "1"], from_2_way_softmax.
    path = tiny_model("qwen2", "causal", seed=6)
    return path, [
        "--max-model-len", "512", "--served-model-name", "mixedbread-ai/mxbai-rerank-base-v2",
        "--hf-overrides", json.dumps(MXBAI_OVERRIDES), "--chat-template", str(TEMPLATE_DIR / "mxbai_rerank_v2.jinja"),
    ]


def _nemotron_reranker(tiny_model):
    # nvidia/llama-nemotron-rerank-1b-v2 with examples/.../nemotron-rerank.jinja: NVIDIA's remote code,
    # LlamaBidirectionalForSequenceClassification (model_type llama_bidirec, every token seeing every
    # other, the tokens' mean pooled, score / temperature), on a one-label tiny Llama's weights.
    path = as_llama_bidirectional(tiny_model("llama", "seqcls", num_labels=1, seed=7),
                                  "LlamaBidirectionalForSequenceClassification", pooling="avg", temperature=1.0)
    return path, [
        "--max-model-len", "512", "--served-model-name", "nvidia/llama-nemotron-rerank-1b-v2",
        "--chat-template", str(TEMPLATE_DIR / "nemotron-rerank.jinja"),
    ]


SERVER_SPECS = {
    "cross_encoder_server": _cross_encoder,
    "jina_reranker_server": _jina_reranker,
    "bi_encoder_server": _bi_encoder,
    "embed_server": _embedder,
    "embed_chunked_server": _embedder_chunked,
    "minilm_server": _minilm,
    "classify_server": _classifier,
    "qwen3_reranker_server": _qwen3_reranker,
    "gemma_reranker_server": _gemma_reranker,
    "mxbai_reranker_server": _mxbai_reranker,
    "nemotron_reranker_server": _nemotron_reranker,
}


class _Pool:
    """The session's servers: checkpoint + process per server fixture name, started on demand."""

    def __init__(self, tiny_model):
        self.tiny_model = tiny_model
        self.servers: dict = {}
        self.model_paths: dict = {}

    def start(self, names) -> None:
        from proc_utils import Server

        for name in names:
            if name in self.servers:
                continue
            path, flags = SERVER_SPECS[name](self.tiny_model)
            self.model_paths[name] = path
            self.servers[name] = Server(path, "--num-threads", "1", *flags)

    def get(self, name):
        self.start([name])
        server = self.servers[name]
        if not getattr(server, "_compat_ready", False):
            try:
                server.wait_ready()
            except Exception:
                print(server.output()[-4000:])
                raise
            server._compat_ready = True
        server.model_path = self.model_paths[name]
        return server

    def stop_all(self) -> list[str]:
        problems = []
        for name, server in self.servers.items():
            code = server.stop()
            if code != 0:
                problems.append(f"{name} exited {code}: {server.output()[-2000:]}")
        return problems


@pytest.fixture(scope="session")
def checkpoint_of(tiny_model):
    """``checkpoint_of(server_name)`` -> that server's checkpoint directory, for in-process tests
    (vLLM's offline ``LLM``) on the same stand-in; the server itself is not started."""
    return lambda name: SERVER_SPECS[name](tiny_model)[0]


@pytest.fixture(scope="session")
def compat_servers(tiny_model):
    pool = _Pool(tiny_model)
    yield pool
    problems = pool.stop_all()
    assert not problems, problems


@pytest.fixture(scope="session", autouse=True)
def _prestart(request, compat_servers):
    """Start every server that the selected tests use, all at once (start-up is most of the time)."""
    wanted = []
    for item in request.session.items:
        for name in getattr(item, "fixturenames", ()):
            if name in SERVER_SPECS and name not in wanted:
                wanted.append(name)
    compat_servers.start(wanted)


def _server_fixture(name):
    @pytest.fixture(scope="session", name=name)
    def fixture(compat_servers):
        return compat_servers.get(name)

    return fixture


for _name in SERVER_SPECS:
    globals()[f"_fixture_{_name}"] = _server_fixture(_name)
