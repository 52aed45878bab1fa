"""What SGLang users keep: Engine(enable_mis=True) and SGLang's Engine keyword arguments,
flush_cache(), and item embedding overrides (embed_override_token_id + item_embed_overrides),
scored against transformers fed the same vectors through ``inputs_embeds``."""

from __future__ import annotations

import pytest
import torch

from hf_reference import assert_scores_close, load_model
from make_tiny_model import delimiter_id
from multiscore import Engine

P = 7  # the placeholder token id of the overrides (any id works)
QUERY = [11, P, 12, 13]
ITEMS = [[20, P, 21], [22, 23], [P, P], [24]]
LABELS = [5, 9, 30]


def _vectors(n: int, seed: int) -> list[list[float]]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 64, generator=gen) * 0.5).tolist()  # hidden 64: the tiny checkpoints'


ITEM_VECTORS = [_vectors(1, 1), None, _vectors(2, 2), None]
QUERY_VECTORS = _vectors(1, 3)


@torch.no_grad()
def reference(path, query, items, query_vectors, item_vectors, labels=None):
    """Each query + item alone in transformers, the placeholder rows of its input embeddings replaced."""
    model = load_model(str(path))
    rows = []
    for item, vectors in zip(items, item_vectors):
        ids = torch.tensor(query + item)
        embeds = model.get_input_embeddings()(ids)  # [n, H]
        given = (query_vectors or []) if query_vectors is not None else []
        slots = [t for t, token in enumerate(query) if token == P] if query_vectors is not None else []
        if vectors is not None:
            slots += [len(query) + t for t, token in enumerate(item) if token == P]
            given = list(given) + list(vectors)
        for slot, vector in zip(slots, given):
            embeds[slot] = torch.tensor(vector)
        out = model(inputs_embeds=embeds[None]).logits
        if labels is None:
            rows.append(out[0].float().tolist())
        else:
            rows.append(torch.log_softmax(out[0, -1].float(), -1)[labels].exp().tolist())
    return rows


@pytest.fixture(scope="module", params=[("qwen3", "seqcls"), ("llama", "causal")], ids=["qwen3-seqcls", "llama-causal"])
def engines(request, tiny_model):
    arch, head = request.param
    path = tiny_model(arch, head)
    # SGLang's spellings: enable_mis names no delimiter; random_seed is our seed; the rest are no-ops.
    with Engine(str(path), device="cpu", num_threads=1) as single, \
            Engine(str(path), device="cpu", num_threads=1, enable_mis=True, random_seed=0, disable_radix_cache=True,
                   chunked_prefill_size=-1, mem_fraction_static=0.8, tp_size=1) as mis:
        yield path, (LABELS if head == "causal" else None), single, mis


def test_item_embedding_overrides_equal_transformers_in_both_modes(engines):
    path, labels, single, mis = engines
    expected = reference(path, QUERY, ITEMS, QUERY_VECTORS, ITEM_VECTORS, labels)
    for engine in (single, mis):
        result = engine.score(QUERY, ITEMS, label_token_ids=labels, embed_override_token_id=P,
                               query_embed_overrides=QUERY_VECTORS, item_embed_overrides=ITEM_VECTORS)
        assert_scores_close(result.scores, expected)
    plain = single.score(QUERY, ITEMS, label_token_ids=labels).scores
    assert abs(plain[0][0] - expected[0][0]) > 1e-3  # the vectors do change the scores they touch


def test_item_overrides_alone_and_as_tensors(engines):
    path, labels, single, mis = engines
    tensors = [None if v is None else torch.tensor(v) for v in ITEM_VECTORS]  # SGLang passes tensors
    expected = reference(path, QUERY, ITEMS, None, ITEM_VECTORS, labels)
    a = single.score(QUERY, ITEMS, label_token_ids=labels, embed_override_token_id=P, item_embed_overrides=tensors)
    b = mis.score(QUERY, ITEMS, label_token_ids=labels, embed_override_token_id=P, item_embed_overrides=ITEM_VECTORS)
    assert_scores_close(a.scores, expected)
    assert_scores_close(b.scores, expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(item_embed_overrides=[[[0.0] * 5], None, None, None]), "has 5 values; the model's hidden size is 64"),
        (dict(item_embed_overrides=[None, None, None]), "3 entries for 4 items"),
        (dict(item_embed_overrides=[None, None, _vectors(1, 4), None]), "item 2 contains 2 occurrences"),
        (dict(item_embed_overrides=ITEM_VECTORS, embed_override_token_id=None), "'embed_override_token_id' is required"),
        (dict(item_embed_overrides=ITEM_VECTORS, item_first=True), "item_first is not supported"),
    ],
)
def test_bad_overrides_are_value_errors(engines, kwargs, message):
    _, labels, single, _ = engines
    options = {"label_token_ids": labels, "embed_override_token_id": P, **kwargs}
    with pytest.raises(ValueError, match=message):
        single.score(QUERY, ITEMS, **options)
    assert len(single.score(QUERY, ITEMS, label_token_ids=labels).scores) == 4  # still serving


def test_enable_mis_scores_as_a_named_delimiter(engines, tiny_model):
    path, labels, _, mis = engines
    with Engine(str(path), device="cpu", num_threads=1, multi_item_scoring_delimiter=delimiter_id(path)) as named:
        assert_scores_close(mis.score(QUERY, ITEMS, label_token_ids=labels).scores,
                            named.score(QUERY, ITEMS, label_token_ids=labels).scores, 1e-5)
    assert mis.flush_cache() is True


def test_parallelism_other_than_one_is_refused(tiny_model):
    with pytest.raises(ValueError, match="tp_size=2: multiscore runs one model replica"):
        Engine(str(tiny_model("qwen3", "seqcls")), device="cpu", tp_size=2)
    with pytest.raises(TypeError):  # a name neither we nor SGLang have is still a mistake
        Engine(str(tiny_model("qwen3", "seqcls")), device="cpu", no_such_argument=1)


def test_dtype_auto_serves_a_16_bit_checkpoint_in_bf16_where_the_cpu_has_it(tiny_model, tmp_path):
    """--dtype auto on CPU: bf16 for a bf16 checkpoint when the CPU multiplies bf16 natively."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from multiscore.model_executor.model_worker import cpu_has_native_bf16

    path = tiny_model("qwen3", "seqcls")
    bf16 = tmp_path / "bf16"
    AutoModelForSequenceClassification.from_pretrained(path).to(torch.bfloat16).save_pretrained(bf16)
    AutoTokenizer.from_pretrained(path).save_pretrained(bf16)
    with Engine(str(bf16), device="cpu", num_threads=1) as engine:
        ready = engine._runtime.scheduler.ready
        expected = "bfloat16" if cpu_has_native_bf16() else "float32"
        assert ready.dtype == expected, ready.dtype_reason
        # --compile auto: the fused ops are compiled (and warmed up) for bf16 on CPU only
        assert ready.compiled == (expected == "bfloat16"), ready.compile_reason
        assert len(engine.score(QUERY, ITEMS).scores) == 4


def test_get_server_info_reports_the_prefix_cache_and_flush_empties_it(engines):
    _, labels, single, mis = engines
    assert single.get_server_info()["prefix_cache"].startswith("on: ")
    assert mis.get_server_info()["prefix_cache"] == "off: --disable-radix-cache"
    query, items = [30, 31, 32, 33, 34], [[40], [41, 42]]
    first = single.score(query, items, label_token_ids=labels).scores
    before = single.get_server_info()["scheduler"]
    second = single.score(query, items, label_token_ids=labels).scores
    after = single.get_server_info()["scheduler"]
    assert_scores_close(second, first, 1e-5)
    assert after["prefix_cache_hit_tokens"] - before["prefix_cache_hit_tokens"] == len(query) - 1
    assert single.flush_cache() is True
    assert single.get_server_info()["scheduler"]["prefix_cache_tokens"] == 0


def test_freeze_gc_freezes_the_callers_heap_only_when_asked(engines):
    """The model processes freeze their start-up heap themselves; the caller's process is frozen by
    SGLang's ``Engine.freeze_gc()`` only (and unfrozen again here, to leave pytest's heap as it was)."""
    import gc

    _, labels, single, _ = engines
    state = single.get_server_info()["gc_freeze"]
    assert state.startswith("on: ") and int(state.split()[1]) > 10_000, state
    before = gc.get_freeze_count()  # 0: nothing in this suite freezes pytest's own process
    try:
        assert single.freeze_gc() is None
        assert gc.get_freeze_count() > before + 10_000
        assert len(single.score([30, 31], [[40]], label_token_ids=labels).scores) == 1
    finally:
        if before == 0:
            gc.unfreeze()
