"""Helpers of the compatibility suites: checkpoint touches, HTTP, vLLM's binary embedding layout and
the references (transformers / sentence-transformers) the ported assertions compare against."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import requests

TEMPLATE_DIR = pathlib.Path(__file__).resolve().parent / "vllm_templates"

# The chat template the upstream embed / pooling servers are started with (--chat-template): each
# message as "role: content" and a newline.
DUMMY_CHAT_TEMPLATE = "{% for message in messages %}{{message['role'] + ': ' + message['content'] + '\\n'}}{% endfor %}"

# A Qwen2.5-style ChatML template (default system message, generation prompt), standing in for the
# template that jason9693/Qwen2.5-1.5B-apeach ships.
CHATML_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# The conversation of the upstream chat tests.
MESSAGES = [
    {"role": "user", "content": "The cat sat on the mat."},
    {"role": "assistant", "content": "A feline was resting on a rug."},
    {"role": "user", "content": "Stars twinkle brightly in the night sky."},
]

EMBED_DTYPES = ("float32", "float16", "bfloat16")
ENDIANNESS = ("native", "big", "little")
_NBYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


# ---- checkpoints ---------------------------------------------------------------------------------


def set_chat_template(path, template: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    tok.chat_template = template
    tok.save_pretrained(str(path))


def add_added_token(path, token: str) -> None:
    """Add ``token`` as a (non-special, case-kept) token; the tiny checkpoints' vocab_size has room."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    tok.add_tokens([AddedToken(token, normalized=False, special=False)])
    vocab_size = json.loads((pathlib.Path(path) / "config.json").read_text())["vocab_size"]
    assert len(tok) <= vocab_size, (len(tok), vocab_size)
    tok.save_pretrained(str(path))


def load_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def template_text(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text()


# ---- HTTP ----------------------------------------------------------------------------------------


def post(server, path: str, body, **kwargs) -> requests.Response:
    return requests.post(server.url + "/" + path.lstrip("/"), json=body, timeout=120, **kwargs)


def get(server, path: str) -> requests.Response:
    return requests.get(server.url + "/" + path.lstrip("/"), timeout=60)


# ---- vLLM's binary layout (vllm/utils/serial_utils.py, vllm/entrypoints/pooling/utils.py) ----------


def binary2tensor(binary: bytes, shape, embed_dtype: str, endianness: str):
    """Decode ``binary`` (``embed_dtype`` values in ``endianness`` byte order) to a float32 tensor."""
    import torch

    order = {"native": "=", "little": "<", "big": ">"}[endianness]
    if embed_dtype == "float32":
        values = np.frombuffer(binary, dtype=order + "f4").astype(np.float32)
    elif embed_dtype == "float16":
        values = np.frombuffer(binary, dtype=order + "f2").astype(np.float32)
    elif embed_dtype == "bfloat16":  # the high half of a float32
        high = np.frombuffer(binary, dtype=order + "u2").astype(np.uint32)
        values = (high << 16).view(np.float32)
    else:
        raise ValueError(embed_dtype)
    return torch.from_numpy(values.copy()).reshape(shape)


def build_metadata_items(embed_dtype: str, endianness: str, shape, n_request: int) -> list[dict]:
    """vLLM's layout of a ``bytes_only`` body: ``n_request`` tensors of ``shape`` back to back."""
    size = int(np.prod(shape)) * _NBYTES[embed_dtype]
    return [
        {"index": i, "embed_dtype": embed_dtype, "endianness": endianness, "start": i * size, "end": (i + 1) * size,
         "shape": list(shape)}
        for i in range(n_request)
    ]


def decode_pooling_output(items: list[dict], body: bytes):
    end = max((item["end"] for item in items), default=0)
    assert len(body) == end, f"the body has {len(body)} bytes, the layout needs {end}: {body[:200]!r}"
    return [
        binary2tensor(body[item["start"]:item["end"]], tuple(item["shape"]), item["embed_dtype"], item["endianness"])
        for item in sorted(items, key=lambda x: x["index"])
    ]


# ---- comparisons (tests/models/utils.py, tests/models/language/pooling/embed_utils.py) ------------


def check_embeddings_close(*, embeddings_0_lst, embeddings_1_lst, name_0: str, name_1: str, tol: float = 1e-3) -> None:
    """vLLM's check: same count, same lengths, cosine similarity of each pair >= 1 - tol."""
    import torch
    import torch.nn.functional as F

    assert len(embeddings_0_lst) == len(embeddings_1_lst)
    for i, (e0, e1) in enumerate(zip(embeddings_0_lst, embeddings_1_lst)):
        assert isinstance(e0, (list, tuple)) and isinstance(e1, (list, tuple)), f"Test{i}: not vectors: {e0!r} / {e1!r}"
        assert len(e0) == len(e1), f"Length mismatch: {len(e0)} vs. {len(e1)}"
        sim = F.cosine_similarity(torch.tensor(e0, dtype=torch.float32).flatten(),
                                  torch.tensor(e1, dtype=torch.float32).flatten(), dim=0)
        assert sim >= 1 - tol, f"Test{i}:\nCosine similarity: {float(sim):.4f}\n{name_0}: {e0[:8]!r}\n{name_1}: {e1[:8]!r}"


def run_embedding_correctness_test(hf_vectors, vllm_outputs, dimensions=None) -> None:
    """Upstream compares the sentence-transformers vectors with the server's at tol=1e-2."""
    hf = [list(v) for v in hf_vectors]
    if dimensions:
        hf = [list(np.asarray(v[:dimensions]) / np.linalg.norm(v[:dimensions])) for v in hf]
    check_embeddings_close(embeddings_0_lst=hf, embeddings_1_lst=vllm_outputs, name_0="hf", name_1="vllm", tol=1e-2)


def sigmoid(x) -> float:
    return float(1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64))))


# ---- references -----------------------------------------------------------------------------------


def render_score_prompt(tokenizer, template: str, query: str, document: str, **kwargs) -> str:
    """How vLLM renders a (query, document) pair with a score template (scoring/io_processor.py:
    safe_apply_chat_template with roles "query" / "document", tools=None, tokenize=False)."""
    return tokenizer.apply_chat_template(
        [{"role": "query", "content": query}, {"role": "document", "content": document}],
        chat_template=template, tools=None, tokenize=False, **kwargs,
    )


def causal_last_logits(model_dir, ids: list[int]) -> np.ndarray:
    """transformers: the causal LM's next-token logits after ``ids``."""
    import torch
    from transformers import AutoModelForCausalLM

    model = _cached(AutoModelForCausalLM, model_dir)
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].double().numpy()


def seqcls_logits(model_dir, ids: list[int], token_type_ids=None) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = _cached(AutoModelForSequenceClassification, model_dir)
    kwargs = {}
    if token_type_ids is not None:
        kwargs["token_type_ids"] = torch.tensor([token_type_ids])
    with torch.no_grad():
        return model(torch.tensor([ids]), **kwargs).logits[0].double().numpy()


def seqcls_token_logits(model_dir, ids: list[int]) -> np.ndarray:
    """The classification head applied at every position (vLLM's token_classify), ``[T, num_labels]``."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = _cached(AutoModelForSequenceClassification, model_dir)
    with torch.no_grad():
        hidden = model.model(torch.tensor([ids])).last_hidden_state[0]
        return model.score(hidden).double().numpy()


_MODELS: dict = {}


def _cached(cls, model_dir):
    key = (cls.__name__, str(model_dir))
    if key not in _MODELS:
        _MODELS[key] = cls.from_pretrained(str(model_dir), torch_dtype="float32").eval()
    return _MODELS[key]


# ---- vLLM's response models (what upstream's ``XResponse.model_validate`` checks) -------------------

_USAGE = {"prompt_tokens": int, "total_tokens": int}
_RESPONSES = {
    # kind: (top-level fields and types, fields and types of each entry of the list field, list field)
    "score": ({"id": str, "object": str, "created": int, "model": str, "data": list, "usage": dict},
              {"index": int, "object": str, "score": (int, float)}, "data"),
    "rerank": ({"id": str, "model": str, "usage": dict, "results": list},
               {"index": int, "document": dict, "relevance_score": (int, float)}, "results"),
    "classify": ({"id": str, "object": str, "created": int, "model": str, "data": list, "usage": dict},
                 {"index": int, "probs": list, "num_classes": int}, "data"),
    "embedding": ({"id": str, "object": str, "created": int, "model": str, "data": list, "usage": dict},
                  {"index": int, "object": str, "embedding": (list, str)}, "data"),
    "pooling": ({"id": str, "object": str, "created": int, "model": str, "data": list, "usage": dict},
                {"index": int, "object": str, "data": (list, str)}, "data"),
}


def validate(kind: str, body: dict) -> dict:
    """Port of ``ScoreResponse / RerankResponse / ClassificationResponse / EmbeddingResponse /
    PoolingResponse.model_validate``: the required fields are there, with their types."""
    top, entry, list_field = _RESPONSES[kind]
    for field, typ in top.items():
        assert field in body, f"{kind} response lacks {field!r}: {body}"
        assert isinstance(body[field], typ), f"{kind}.{field} is {type(body[field]).__name__}: {body[field]!r}"
    for field, typ in _USAGE.items():
        assert isinstance(body["usage"].get(field), typ), f"{kind}.usage.{field}: {body['usage']}"
    for item in body[list_field]:
        for field, typ in entry.items():
            assert field in item, f"{kind} entry lacks {field!r}: {item}"
            assert isinstance(item[field], typ), f"{kind} entry {field} is {type(item[field]).__name__}"
        if kind == "classify":
            assert "label" in item and (item["label"] is None or isinstance(item["label"], str)), item
    return body


def ok(response: requests.Response, kind: str) -> dict:
    """``response.raise_for_status()`` then ``kind``'s ``model_validate``."""
    assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
    return validate(kind, response.json())
