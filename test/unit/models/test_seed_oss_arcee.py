"""Seed-OSS (q/k/v and o biases set apart) and Arcee (an ungated squared-ReLU MLP) against
transformers on the same tiny checkpoints, single-item and MIS."""

import pytest

from worker_batches import assert_both_ways_equal_transformers


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("arch, kw", [("seed_oss", {"attention_out_bias": True}), ("seed_oss", {"head_dim": 32}),
                                      ("arcee", {})], ids=["seed_oss-o-bias", "seed_oss-wide-heads", "arcee"])
def test_equals_transformers_single_item_and_mis(tiny_model, arch, kw, head):
    assert_both_ways_equal_transformers(tiny_model(arch, head, **kw), head, seed=2)


def test_arcee_refuses_another_activation(tiny_model):
    from multiscore.configs.model_config import ModelConfig
    from multiscore.server_args import ServerArgs

    path = tiny_model("arcee", "causal")
    with pytest.raises(ValueError, match="its MLP squares a ReLU"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), json_model_override_args='{"hidden_act": "silu"}'))
