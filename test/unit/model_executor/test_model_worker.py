"""ModelWorker in-process against transformers: every architecture and head, single-item and MIS
sequences in one batch, and checkpoint variants (tied embeddings, sharded, rope scaling, overrides)."""

import random

import pytest
import torch

from hf_reference import assert_scores_close, hf_scores
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis
from multiscore.model_executor.model_config import ModelConfig
from multiscore.model_executor.model_worker import ModelWorker
from multiscore.server_args import ServerArgs

D = 4  # any id works as a delimiter: boundaries are metadata, never a scan for D


def _worker(path, **kw) -> ModelWorker:
    args = ServerArgs(model_path=str(path), device="cpu", **kw)
    return ModelWorker(args, ModelConfig.from_server_args(args))


def _inputs(seed=0, n_items=5):
    rng = random.Random(seed)
    query = [rng.randrange(5, 150) for _ in range(9)]
    items = [[rng.randrange(5, 150) for _ in range(rng.randrange(0, 7))] for _ in range(n_items)]
    items[1] = [7, D, 8]  # the delimiter id inside an item must not split it
    return query, items


def _score_both_ways(worker, query, items, labels, apply_softmax=False):
    """One batch holding every single-item sequence and one MIS sequence of all items."""
    singles = [ScoreSequence("s", query + it, i, 1, labels, apply_softmax) for i, it in enumerate(items)]
    mis = ScoreSequence(
        "m", pack_mis(query, items, D), 0, len(items), labels, apply_softmax,
        query_len=len(query), item_lens=[len(it) for it in items],
    )
    out = worker.forward(singles + [mis])
    return torch.cat(out[:-1]).tolist(), out[-1].tolist()


@pytest.mark.parametrize("arch", ["qwen3", "qwen2", "llama"])
@pytest.mark.parametrize("head", ["seqcls", "causal"])
def test_native_model_equals_transformers(tiny_model, arch, head):
    path = tiny_model(arch, head)
    query, items = _inputs()
    labels = [5, 17, 30] if head == "causal" else None
    for apply_softmax in (False, True):
        single, mis = _score_both_ways(_worker(path), query, items, labels, apply_softmax)
        ref = hf_scores(path, query, items, labels, apply_softmax)
        assert_scores_close(single, ref)
        assert_scores_close(mis, ref)


@pytest.mark.parametrize(
    "arch, head, kw",
    [
        ("qwen3", "causal", {"tie_word_embeddings": True}),
        ("qwen3", "seqcls", {"max_shard_size": "20KB"}),
        ("qwen3", "seqcls", {"attention_bias": True}),
        ("llama", "causal", {"rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}),
        ("llama", "seqcls", {"attention_bias": True, "mlp_bias": True}),
    ],
)
def test_checkpoint_variants(tiny_model, arch, head, kw):
    path = tiny_model(arch, head, **kw)
    if "max_shard_size" in kw:
        assert (path / "model.safetensors.index.json").exists()
    query, items = _inputs(seed=1)
    labels = [3, 9] if head == "causal" else None
    single, mis = _score_both_ways(_worker(path), query, items, labels)
    ref = hf_scores(path, query, items, labels)
    assert_scores_close(single, ref)
    assert_scores_close(mis, ref)


def test_override_turns_a_causal_checkpoint_into_a_seeded_classifier(tiny_model):
    path = tiny_model("qwen3", "causal")
    overrides = '{"architectures": ["Qwen3ForSequenceClassification"], "num_labels": 12}'
    query, items = _inputs(seed=2)
    a_single, a_mis = _score_both_ways(_worker(path, json_model_override_args=overrides), query, items, None)
    b_single, _ = _score_both_ways(_worker(path, json_model_override_args=overrides), query, items, None)
    assert all(len(row) == 12 for row in a_single)
    assert a_single == b_single  # the missing head is initialised deterministically
    assert_scores_close(a_mis, a_single)


def test_bfloat16_on_cpu_is_close_to_float32(tiny_model):
    path = tiny_model("qwen3", "seqcls")
    query, items = _inputs(seed=3)
    single32, _ = _score_both_ways(_worker(path), query, items, None)
    single16, mis16 = _score_both_ways(_worker(path, dtype="bfloat16"), query, items, None)
    assert_scores_close(single16, single32, atol=0.1)
    assert_scores_close(mis16, single32, atol=0.1)


def test_unsupported_architecture_and_missing_path(tiny_model, tmp_path):
    path = tiny_model("qwen3", "causal")
    with pytest.raises(ValueError, match="unsupported architecture 'GPT2LMHeadModel'"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), json_model_override_args='{"architectures": ["GPT2LMHeadModel"]}'))
    with pytest.raises(ValueError, match="model path not found"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(tmp_path / "nope")))


def test_row_chunked_mlp_gives_the_same_scores(tiny_model, monkeypatch):
    import multiscore.models.decoder as decoder

    path = tiny_model("qwen3", "seqcls")
    query, items = _inputs(seed=4, n_items=60)  # ~250 tokens per MIS sequence
    whole = _score_both_ways(_worker(path), query, items, None)
    monkeypatch.setattr(decoder, "_MLP_CHUNK_ELEMENTS", 1)  # 128-row chunks
    chunked = _score_both_ways(_worker(path), query, items, None)
    assert_scores_close(chunked[0], whole[0], atol=1e-6)
    assert_scores_close(chunked[1], whole[1], atol=1e-6)
