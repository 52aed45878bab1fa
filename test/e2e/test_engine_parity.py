"""Engine.score against `transformers` scoring each item alone (DESIGN.md §3, §4, §5).

Every architecture x head (and Gemma 4's and Qwen3.5's causal LMs), single-item and MIS, text and token inputs; fp32, <= 1e-4 absolute.
Engines are expensive to start, so each is module-scoped and shared by the tests of one model.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import pathlib
import random
import tempfile
import time

import pytest

from hf_reference import assert_scores_close, hf_scores, hf_tokenize, load_tokenizer
from make_tiny_model import delimiter_id
from proc_utils import multiscore_tmp_dirs

ATOL = 1e-4
ARCHS = ("qwen3", "qwen2", "llama")
HEADS = ("causal", "seqcls")
# Gemma 4 (causal only: transformers has no classifier of it): layers of two shapes, KV sharing,
# per-layer embeddings; Qwen3.5: linear-attention layers, whose items start from their query's
# state; each through the whole Engine.
COMBOS = [(arch, head) for arch in ARCHS for head in HEADS] + [("gemma4", "causal"), ("qwen3_5", "causal")]
# Context length of the MIS engine: small, so that a 300-item request must be split.
MIS_CONTEXT = 512

QUERY = "What is the capital of California ?"
ITEMS = [
    "Sacramento",
    "Los Angeles",
    "San Francisco",
    "the city on the river",
    "a big city by the bay",
    "1 2 3",
    "Sacramento is the capital of California .",
    "no",
    "yes , it is the capital",
    "the old house by the lake in the north",
]


@dataclasses.dataclass(frozen=True)
class Model:
    path: pathlib.Path
    arch: str
    head: str
    vocab_size: int  # the model's (config) vocabulary
    tok_size: int  # the tokenizer's vocabulary (<= vocab_size)
    delimiter: int

    @property
    def causal(self) -> bool:
        return self.head == "causal"

    @property
    def labels(self) -> list[int] | None:
        # A few label ids spread over the tokenizer's vocabulary, including its last id.
        return [5, 9, 42, self.tok_size - 1] if self.causal else None


def _model(path: pathlib.Path, arch: str, head: str) -> Model:
    config = json.loads((path / "config.json").read_text())
    return Model(
        path=path,
        arch=arch,
        head=head,
        vocab_size=config["vocab_size"],
        tok_size=len(load_tokenizer(str(path))),
        delimiter=delimiter_id(path),
    )


def _engine(path, **kw):
    from multiscore import Engine

    return Engine(model_path=str(path), device="cpu", **kw)


@pytest.fixture(scope="module", params=COMBOS, ids=[f"{a}-{h}" for a, h in COMBOS])
def model(request, tiny_model) -> Model:
    arch, head = request.param
    return _model(tiny_model(arch, head), arch, head)


@pytest.fixture(scope="module")
def single_engine(model):
    engine = _engine(model.path)
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def mis_engine(model):
    engine = _engine(model.path, multi_item_scoring_delimiter=model.delimiter, context_length=MIS_CONTEXT)
    yield engine
    engine.shutdown()


@pytest.fixture(params=["single", "mis"])
def engine(request, single_engine, mis_engine):
    """Both modes: every item's score must be the same in either."""
    return single_engine if request.param == "single" else mis_engine


def random_items(model: Model, n: int, seed: int, min_len: int = 1, max_len: int = 8) -> list[list[int]]:
    """Token items over ordinary (non-special) ids, never the delimiter or <pad>."""
    rng = random.Random(seed)
    return [[rng.randrange(5, model.tok_size) for _ in range(rng.randint(min_len, max_len))] for _ in range(n)]


def reference(model: Model, query_ids, items_ids, apply_softmax=False, item_first=False):
    return hf_scores(model.path, query_ids, items_ids, model.labels, apply_softmax=apply_softmax, item_first=item_first)


def score(engine, model: Model, query, items, **kw):
    return engine.score(query, items, label_token_ids=model.labels, **kw)


# ---- single-item and MIS parity ---------------------------------------------------------------


@pytest.mark.parametrize("apply_softmax", [False, True])
def test_text_parity(engine, model, apply_softmax):
    result = score(engine, model, QUERY, ITEMS, apply_softmax=apply_softmax)
    query_ids, items_ids = hf_tokenize(model.path, QUERY, ITEMS)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids, apply_softmax), ATOL)
    assert isinstance(result.prompt_tokens, int) and result.prompt_tokens > 0


@pytest.mark.parametrize("apply_softmax", [False, True])
def test_token_parity(engine, model, apply_softmax):
    query_ids = random_items(model, 1, seed=1, min_len=12, max_len=12)[0]
    items_ids = random_items(model, 10, seed=2)
    result = score(engine, model, query_ids, items_ids, apply_softmax=apply_softmax)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids, apply_softmax), ATOL)
    assert isinstance(result.prompt_tokens, int) and result.prompt_tokens > 0


def test_score_shapes(engine, model):
    result = score(engine, model, QUERY, ITEMS[:3])
    width = len(model.labels) if model.causal else 3  # make_tiny_model's default num_labels
    assert len(result.scores) == 3
    assert all(len(row) == width for row in result.scores)
    assert all(isinstance(x, float) for row in result.scores for x in row)


@pytest.mark.parametrize("apply_softmax", [False, True])
def test_softmax_rows(engine, model, apply_softmax):
    rows = score(engine, model, QUERY, ITEMS[:4], apply_softmax=apply_softmax).scores
    if apply_softmax:
        assert all(abs(sum(row) - 1.0) < 1e-4 for row in rows)
    if model.causal:
        # Full-vocabulary probabilities without apply_softmax: a row of 4 labels sums below 1.
        assert all(0.0 <= x <= 1.0 for row in rows for x in row)
        if not apply_softmax:
            assert all(sum(row) < 1.0 for row in rows)


@pytest.mark.parametrize("n", [1, 2, 10])
def test_mis_n_items(mis_engine, model, n):
    query_ids = random_items(model, 1, seed=3, min_len=9, max_len=9)[0]
    items_ids = random_items(model, n, seed=100 + n)
    result = score(mis_engine, model, query_ids, items_ids)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


def test_mis_300_items_split_over_context(mis_engine, model):
    query_ids = random_items(model, 1, seed=4, min_len=20, max_len=20)[0]
    items_ids = random_items(model, 300, seed=5, min_len=1, max_len=6)
    packed = len(query_ids) + sum(len(it) + 1 for it in items_ids) + 1
    assert packed > 2 * MIS_CONTEXT, "the packed request must exceed the context length"
    result = score(mis_engine, model, query_ids, items_ids, apply_softmax=True)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids, apply_softmax=True), ATOL)


def test_mis_300_text_items(mis_engine, model):
    words = ITEMS * 30
    result = score(mis_engine, model, QUERY, words)
    query_ids, items_ids = hf_tokenize(model.path, QUERY, ITEMS)
    expected = reference(model, query_ids, items_ids) * 30
    assert_scores_close(result.scores, expected, ATOL)
    assert mis_engine.tokenizer_manager._thread.used  # >= MANY_TEXTS texts: tokenized off the event loop


def test_item_first_300_text_items_on_the_tokenizer_thread(single_engine, model):
    """item_first moves the BOS to the front of every item (test_item_first_single_item checks it against
    transformers on the event loop's tokenizer): the same scores from the tokenizer thread's copy."""
    inline = score(single_engine, model, QUERY, ITEMS, item_first=True)  # 10 texts: tokenized on the loop
    result = score(single_engine, model, QUERY, ITEMS * 30, item_first=True)
    assert_scores_close(result.scores, inline.scores * 30, 1e-5)
    assert single_engine.tokenizer_manager._thread.used


def test_empty_item_scores_like_query_alone(engine, model):
    query_ids = random_items(model, 1, seed=6, min_len=7, max_len=7)[0]
    items_ids = [[11, 12, 13], [], [14]]
    result = score(engine, model, query_ids, items_ids)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)
    assert_scores_close([result.scores[1]], reference(model, query_ids, [[]]), ATOL)


def test_empty_text_item(engine, model):
    items = ["Sacramento", "", "Los Angeles"]
    result = score(engine, model, QUERY, items)
    query_ids, items_ids = hf_tokenize(model.path, QUERY, items)
    assert items_ids[1] == []
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


def test_delimiter_inside_token_item_does_not_split(engine, model):
    d = model.delimiter
    query_ids = random_items(model, 1, seed=7, min_len=6, max_len=6)[0]
    items_ids = [[20, d, 21], [d], [22, 23, d], [24]]
    result = score(engine, model, query_ids, items_ids)
    assert len(result.scores) == 4
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


def test_delimiter_inside_text_item_does_not_split(engine, model):
    items = ["Sacramento <|sep|> Los Angeles", "San Francisco"]
    query_ids, items_ids = hf_tokenize(model.path, QUERY, items)
    assert model.delimiter in items_ids[0], "the tokenizer must turn <|sep|> into the delimiter id"
    result = score(engine, model, QUERY, items)
    assert len(result.scores) == 2
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


def test_empty_token_query(engine, model):
    items_ids = random_items(model, 4, seed=8)
    result = score(engine, model, [], items_ids)
    assert_scores_close(result.scores, reference(model, [], items_ids), ATOL)


def test_no_items(engine, model):
    assert score(engine, model, QUERY, []).scores == []
    assert score(engine, model, [11, 12], []).scores == []


def test_string_items_is_one_item(engine, model):
    one = score(engine, model, QUERY, "Sacramento").scores
    listed = score(engine, model, QUERY, ["Sacramento"]).scores
    assert len(one) == 1
    assert_scores_close(one, listed, 1e-6)


def test_item_first_single_item(single_engine, model):
    query_ids = random_items(model, 1, seed=9, min_len=5, max_len=5)[0]
    items_ids = random_items(model, 5, seed=10)
    for apply_softmax in (False, True):
        result = score(single_engine, model, query_ids, items_ids, apply_softmax=apply_softmax, item_first=True)
        expected = reference(model, query_ids, items_ids, apply_softmax, item_first=True)
        assert_scores_close(result.scores, expected, ATOL)
    # Text: the tokenizer's BOS leads the whole sequence, as SGLang and transformers score it
    # ("<s> item query", never "item <s> query"); token ids are taken as given (above).
    text = score(single_engine, model, QUERY, ITEMS[:3], item_first=True)
    query_ids, items_ids = hf_tokenize(model.path, QUERY, ITEMS[:3])
    bare = load_tokenizer(str(model.path))(QUERY, add_special_tokens=False)["input_ids"]
    lead = query_ids[: len(query_ids) - len(bare)]
    assert (lead != []) == (model.arch == "llama")  # only the Llama-style tokenizer adds a BOS
    expected = reference(model, query_ids[len(lead):], [lead + it for it in items_ids], item_first=True)
    assert_scores_close(text.scores, expected, ATOL)


def test_modes_agree_on_same_request(single_engine, mis_engine, model):
    query_ids = random_items(model, 1, seed=11, min_len=10, max_len=10)[0]
    items_ids = random_items(model, 20, seed=12)
    a = score(single_engine, model, query_ids, items_ids).scores
    b = score(mis_engine, model, query_ids, items_ids).scores
    assert_scores_close(a, b, ATOL)


def test_async_score(mis_engine, model):
    sync = score(mis_engine, model, QUERY, ITEMS[:3]).scores

    async def go():
        results = await asyncio.gather(
            *[mis_engine.async_score(QUERY, ITEMS[:3], label_token_ids=model.labels) for _ in range(4)]
        )
        return [r.scores for r in results]

    for rows in asyncio.run(go()):
        assert_scores_close(rows, sync, 1e-5)


# ---- bad inputs raise ValueError --------------------------------------------------------------


def test_bad_inputs_raise_value_error(engine, model):
    v = model.vocab_size
    bad = [
        dict(query=[11, v], items=[[12]]),  # token id outside the vocabulary, in the query
        dict(query=[11], items=[[12], [v + 5]]),  # ... in an item
        dict(query=[11], items=[[12, -1]]),  # negative token id
        dict(query=QUERY, items=[[12, 13]]),  # text query, token items
        dict(query=[11, 12], items=["Sacramento"]),  # token query, text items
    ]
    if model.causal:
        bad += [
            dict(query=QUERY, items=ITEMS[:2], label_token_ids=None),
            dict(query=QUERY, items=ITEMS[:2], label_token_ids=[]),
            dict(query=QUERY, items=ITEMS[:2], label_token_ids=[5, -1]),
            dict(query=QUERY, items=ITEMS[:2], label_token_ids=[v]),
            dict(query=QUERY, items=ITEMS[:2], label_token_ids=[10**9]),
        ]
    for kw in bad:
        kw.setdefault("label_token_ids", model.labels)
        with pytest.raises(ValueError):
            engine.score(**kw)
    # The engine still serves after the errors.
    result = score(engine, model, QUERY, ITEMS[:2])
    query_ids, items_ids = hf_tokenize(model.path, QUERY, ITEMS[:2])
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


# ---- loading: sharded checkpoints, overrides --------------------------------------------------


def test_sharded_checkpoint_same_scores(tiny_model):
    plain = _model(tiny_model("qwen2", "causal"), "qwen2", "causal")
    sharded_path = tiny_model("qwen2", "causal", max_shard_size="100KB")
    assert (sharded_path / "model.safetensors.index.json").exists()
    query_ids, items_ids = hf_tokenize(plain.path, QUERY, ITEMS[:4])
    expected = reference(plain, query_ids, items_ids)
    with _engine(sharded_path, multi_item_scoring_delimiter=plain.delimiter) as engine:
        result = engine.score(QUERY, ITEMS[:4], label_token_ids=plain.labels)
    assert_scores_close(result.scores, expected, ATOL)


def test_override_causal_to_seqcls_12_labels(tiny_model):
    path = tiny_model("qwen3", "causal")
    override = json.dumps({"architectures": ["Qwen3ForSequenceClassification"], "num_labels": 12})
    rows = []
    for _ in range(2):
        with _engine(path, json_model_override_args=override, multi_item_scoring_delimiter=delimiter_id(path)) as engine:
            result = engine.score(QUERY, ITEMS[:3])
        assert len(result.scores) == 3
        assert all(len(row) == 12 for row in result.scores)
        rows.append(result.scores)
    assert_scores_close(rows[0], rows[1], 1e-6)  # the new head is initialised deterministically
    assert rows[0][0] != rows[0][1], "different items should score differently"


def test_tied_embeddings_checkpoint(tiny_model):
    # Tied checkpoints (e.g. Qwen3-0.6B) ship no lm_head.weight: the loader must tie it.
    path = tiny_model("qwen3", "causal", tie_word_embeddings=True)
    model = _model(path, "qwen3", "causal")
    query_ids, items_ids = hf_tokenize(path, QUERY, ITEMS[:4])
    with _engine(path, multi_item_scoring_delimiter=model.delimiter) as engine:
        result = engine.score(QUERY, ITEMS[:4], label_token_ids=model.labels)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


def test_mis_split_over_token_budget(tiny_model):
    # No context length, but a prefill budget far below the packed length: still split, same answer.
    path = tiny_model("llama", "seqcls")
    model = _model(path, "llama", "seqcls")
    query_ids = random_items(model, 1, seed=13, min_len=16, max_len=16)[0]
    items_ids = random_items(model, 100, seed=14, min_len=0, max_len=6)
    with _engine(path, multi_item_scoring_delimiter=model.delimiter, max_prefill_tokens=96) as engine:
        result = engine.score(query_ids, items_ids)
    assert_scores_close(result.scores, reference(model, query_ids, items_ids), ATOL)


# ---- start-up failures: fast, with the reason -------------------------------------------------


def _assert_startup_fails(kw: dict, needle: str) -> None:
    private_tmp = tempfile.mkdtemp(prefix="startup-")  # the ipc dir goes here: other processes' don't count
    saved_tempdir, tempfile.tempdir = tempfile.tempdir, private_tmp
    children_before = set(multiprocessing.active_children())
    start = time.monotonic()
    try:
        with pytest.raises(Exception) as info:
            engine = _engine(**kw)
            engine.shutdown()
    finally:
        tempfile.tempdir = saved_tempdir
    elapsed = time.monotonic() - start
    assert elapsed < 30, f"start-up failure took {elapsed:.1f}s"
    assert needle.lower() in str(info.value).lower(), f"{needle!r} not in {info.value!r}"
    deadline = time.monotonic() + 10
    while set(multiprocessing.active_children()) - children_before and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = set(multiprocessing.active_children()) - children_before
    assert not leftover, f"a scheduler process outlived the failed start-up: {leftover}"
    assert not multiscore_tmp_dirs(private_tmp), "the failed start-up left its ipc dir behind"


def test_startup_missing_path(tmp_path):
    missing = tmp_path / "no-such-model"
    _assert_startup_fails(dict(path=missing), str(missing))


def test_startup_unsupported_architecture(tiny_model):
    override = json.dumps({"architectures": ["RwkvForCausalLM"]})
    _assert_startup_fails(dict(path=tiny_model("qwen3", "causal"), json_model_override_args=override), "RwkvForCausalLM")


def test_startup_bad_override_json(tiny_model):
    _assert_startup_fails(dict(path=tiny_model("qwen3", "causal"), json_model_override_args="{not json"), "json")


def test_embedding_overrides_are_a_clear_error_for_qwen3_5(tiny_model):
    """Refused before any batch runs (its linear-attention layers do not take them), and the engine
    keeps serving."""
    path = tiny_model("qwen3_5", "causal")
    with _engine(path, num_threads=1) as engine:
        with pytest.raises(ValueError, match="embedding overrides are not supported for Qwen3_5ForCausalLM"):
            engine.score([11, 7, 12], [[20, 21]], label_token_ids=[5, 9], embed_override_token_id=7,
                         query_embed_overrides=[[0.0] * 64])
        assert len(engine.score([11, 12], [[20, 21]], label_token_ids=[5, 9]).scores) == 1
