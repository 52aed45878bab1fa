"""MPT against transformers, single-item and MIS: ALiBi with MPT's slopes (6 heads: fewer than a power of two,
its odd-then-even order), q/k/v clamped by ``clip_qkv`` (and not), bias-free LayerNorms and projections, the
token classifier; MPT options transformers' MPT does not compute refused."""

import pytest
import torch

from multiscore.models.mpt import mpt_alibi_slopes
from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("clip", [0.5, None], ids=["clip_qkv", "no-clip"])
def test_mpt_equals_transformers_single_item_and_mis(tiny_model, head, clip):
    path = tiny_model("mpt", head, attn_config={"clip_qkv": clip})
    w = worker(path)
    assert w.model.model.blocks[0].attn.clip_qkv == clip and w.backend.head_dim == 16 + 8
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


@pytest.mark.parametrize("heads", [4, 6, 32])
def test_mpt_slopes_are_transformers(heads):
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

    alibi = build_mpt_alibi_tensor(heads, 2)  # [heads, 1, 2]: slope · (key - 1)
    torch.testing.assert_close(mpt_alibi_slopes(heads), alibi[:, 0, 1] - alibi[:, 0, 0], atol=0, rtol=0)


@pytest.mark.parametrize("overrides, message", [
    (dict(attn_config={"qk_ln": True}), "attn_config.qk_ln True is not supported"),
    (dict(attn_config={"alibi": False}), "attn_config.alibi False is not supported"),
    (dict(no_bias=False), "no_bias False is not supported"),
])
def test_what_transformers_mpt_does_not_compute_is_refused(tiny_model, overrides, message):
    with pytest.raises(ValueError, match=message):
        worker(tiny_model("mpt", "causal", **overrides))
