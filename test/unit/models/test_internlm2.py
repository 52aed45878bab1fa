"""InternLM2 as published (remote code, model_type ``internlm2``), served without it: a tiny Llama
with grouped kv heads in InternLM2's layout (q/k/v stacked per kv head, its names, dynamic NTK rope)
scores as transformers' Llama on the same weights: the causal LM single-item and MIS, and the reward
model's ``v_head`` (no activation; vLLM's /pooling default for it is per token)."""

import pytest

from multiscore.configs.model_config import ModelConfig
from multiscore.server_args import ServerArgs
from remote_code_checkpoints import as_internlm2
from worker_batches import assert_both_ways_equal_transformers


@pytest.mark.parametrize("head, architecture", [("causal", "InternLM2ForCausalLM"), ("seqcls", "InternLM2ForRewardModel")])
def test_internlm2_as_published_equals_transformers_llama(tiny_model, tmp_path, head, architecture):
    original = tiny_model("llama", head, **({"num_labels": 1} if head == "seqcls" else {}))
    path = as_internlm2(original, tmp_path / "internlm2", architecture)
    assert_both_ways_equal_transformers(path, head, seed=7, reference=original)


def test_the_reward_model_is_a_raw_score_pooled_per_token_by_default(tiny_model, tmp_path):
    path = as_internlm2(tiny_model("llama", "seqcls", num_labels=1), tmp_path / "rm", "InternLM2ForRewardModel")
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(path)))
    assert config.num_labels == 1 and config.hf_config.problem_type == "regression"
    assert config.default_pooling_task == "token_classify" and "classify" in config.pooling_tasks


def test_dynamic_rope_stops_the_context_at_its_plain_range(tiny_model, tmp_path):
    path = as_internlm2(tiny_model("llama", "causal"), tmp_path / "lm", "InternLM2ForCausalLM")
    assert ModelConfig.from_server_args(ServerArgs(model_path=str(path))).context_length == 4096
    with pytest.raises(ValueError, match="exceeds the 4096 positions"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), context_length=8192))
