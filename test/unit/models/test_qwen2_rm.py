"""Qwen's reward models (remote code, config plain qwen2) as vLLM serves them: the MLP head
(score.0 -> ReLU -> score.2) on transformers' Qwen2 hidden states, at each sequence's last token and,
by default on /pooling, at every token (a process reward model's softmax over its two labels)."""

import json

import pytest
import torch

from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import mixed_inputs, score_both_ways, worker


def _as_reward_model(seqcls, out, architecture: str, labels: int):
    """A copy of a tiny transformers Qwen2 classifier with the remote code's MLP head (seeded) -> (path, head)."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(seqcls, out)
    gen = torch.Generator().manual_seed(2)
    head = {"score.0.weight": torch.randn(64, 64, generator=gen) * 0.3, "score.0.bias": torch.randn(64, generator=gen) * 0.1,
            "score.2.weight": torch.randn(labels, 64, generator=gen) * 0.3, "score.2.bias": torch.randn(labels, generator=gen) * 0.1}
    tensors = {k: v for k, v in load_file(str(out / "model.safetensors")).items() if not k.startswith("score.")}
    save_file({**tensors, **head}, str(out / "model.safetensors"))
    config = json.loads((out / "config.json").read_text())
    config.update(architectures=[architecture], auto_map={"AutoModel": f"modeling_qwen2_rm.{architecture}"})
    (out / "config.json").write_text(json.dumps(config))
    return out, head


def _mlp(hidden, head):
    return torch.relu(hidden @ head["score.0.weight"].T + head["score.0.bias"]) @ head["score.2.weight"].T + head["score.2.bias"]


@pytest.mark.parametrize("architecture, labels", [("Qwen2ForRewardModel", 1), ("Qwen2ForProcessRewardModel", 2)])
def test_reward_heads_equal_the_mlp_on_transformers_hidden_states(tiny_model, tmp_path, architecture, labels):
    from transformers import AutoModelForSequenceClassification

    seqcls = tiny_model("qwen2", "seqcls")
    path, head = _as_reward_model(seqcls, tmp_path / "rm", architecture, labels)
    w = worker(path)
    assert w.model_config.num_labels == labels and w.model_config.default_pooling_task == "token_classify"
    body = AutoModelForSequenceClassification.from_pretrained(str(seqcls), dtype=torch.float32).eval().model
    query, items = mixed_inputs(seed=6)
    single, mis = score_both_ways(w, query, items, None)  # raw head outputs at each item's last token
    with torch.no_grad():
        last = torch.stack([body(input_ids=torch.tensor([query + it])).last_hidden_state[0, -1] for it in items])
        tokens = body(input_ids=torch.tensor([query + items[0]])).last_hidden_state[0]
    torch.testing.assert_close(torch.tensor(single), _mlp(last, head), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), _mlp(last, head), atol=1e-5, rtol=0)
    per_token = PoolingParams(activation="default", per_token=True, token_head="classify")
    ids = query + items[0]
    got = w.forward([ScoreSequence("t", ids, 0, len(ids), per_token)])[0]
    expected = _mlp(tokens, head)  # the reward model's raw reward; the process model's softmax over its labels
    torch.testing.assert_close(got, expected if labels == 1 else torch.softmax(expected, -1), atol=1e-5, rtol=0)
