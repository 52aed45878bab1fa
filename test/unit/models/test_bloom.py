"""BLOOM against transformers, single-item and MIS: ALiBi (6 heads: slopes past a power of two) served as
extra q/k dimensions, the embeddings' LayerNorm, q/k/v rows per head, biased everything, the residual taken
after the LayerNorm (``apply_residual_connection_post_layernorm``) or before; the token classifier; the
unprefixed bigscience names; the prefix cache; FlashInfer refused. ALiBi's extra dimensions against the
bias they stand for, in fp32 and bf16."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.layers.alibi import alibi_slopes, key_dims, query_dims, with_alibi
from worker_batches import (
    LABELS,
    assert_both_ways_equal_transformers,
    assert_prefix_cache_scores_as_uncached,
    mixed_inputs,
    score_both_ways,
    worker,
)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("post_ln", [False, True], ids=["residual-before-ln", "residual-after-ln"])
def test_bloom_equals_transformers_single_item_and_mis(tiny_model, head, post_ln):
    path = tiny_model("bloom", head, apply_residual_connection_post_layernorm=post_ln)
    w = worker(path)
    assert w.backend.head_dim == 16 + 8
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_bigscience_unprefixed_names_load(tiny_model, tmp_path):
    """bigscience/bloom-560m's own files: ``h.0.self_attention...``, no ``transformer.``, no LM head (tied)."""
    path = tiny_model("bloom", "causal")
    for f in path.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    tensors = load_file(str(path / "model.safetensors"))
    renamed = {name.removeprefix("transformer."): t for name, t in tensors.items() if name != "lm_head.weight"}
    assert "h.0.self_attention.query_key_value.weight" in renamed
    save_file(renamed, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=2)
    assert score_both_ways(worker(tmp_path), query, items, LABELS) == score_both_ways(worker(path), query, items, LABELS)


def test_the_prefix_cache_keeps_alibis_key_dimensions(tiny_model):
    """Cached keys keep their ALiBi dimensions (each layer holds 6 heads of 16 + 8), so a warm prefix scores as cold."""
    assert_prefix_cache_scores_as_uncached(tiny_model("bloom", "seqcls"), [(6, 24), (6, 24)])


def test_bloom_on_flashinfer_is_refused(tiny_model):
    with pytest.raises(ValueError, match=r"biases its attention scores by position \(ALiBi\).*--attention-backend torch"):
        worker(tiny_model("bloom", "seqcls"), attention_backend="flashinfer")


@pytest.mark.parametrize("heads", [4, 6, 16])
def test_alibi_slopes_are_transformers_bloom_slopes(heads):
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    alibi = build_alibi_tensor(torch.ones(1, 2), heads, torch.float32)  # [heads, 1, 2]: slope · position
    torch.testing.assert_close(alibi_slopes(heads), alibi[:, 0, 1], atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_extra_dimensions_add_slope_times_key_position(dtype):
    """q'·k' = scale·q·k + slope·p for keys at positions up to 5,000, to fp32 rounding of the bias even in bf16."""
    gen = torch.Generator().manual_seed(0)
    T, H, D, scale = 40, 6, 16, 0.25
    q, k, v = (torch.randn(T, H, D, generator=gen).to(dtype) for _ in range(3))
    positions = torch.randint(0, 5000, (T,), generator=gen)
    slopes = alibi_slopes(H)
    q2, k2, v2 = with_alibi(q, k, v, scale, query_dims(slopes, dtype), key_dims(positions, dtype))
    assert q2.shape == k2.shape == v2.shape == (T, H, D + 8) and not v2[..., D:].any()
    scores = torch.einsum("qhd,khd->hqk", q2.float(), k2.float())  # [H, T, T]
    expected = scale * torch.einsum("qhd,khd->hqk", q.float(), k.float()) + slopes[:, None, None] * positions.float()
    torch.testing.assert_close(scores, expected, atol=5000 * 2e-7 + 1e-5, rtol=0)
