"""Cohere Compass (text) against transformers: Command R7B's parallel block with the half rotary, each
layer type's own (a sliding layer at base 1e4, a global one at 5e5, or a type with none); the causal
LM and the last-token classifier, single-item and MIS (its other poolings refused); the embedder pooled as
the config's ``pooling`` says."""

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from multiscore.configs.model_config import ModelConfig
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("seed", [1, 3])
def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model, seed):
    path = tiny_model("cohere_compass", "causal")
    w = worker(path)
    attention = [layer.self_attn for layer in w.model.model.layers]
    assert [a.window for a in attention] == [4, None] and all(a.rotary for a in attention)
    assert_both_ways_equal_transformers(path, "causal", seed, w=w)


def test_the_classifier_equals_transformers_single_item_and_mis(tiny_model):
    assert_both_ways_equal_transformers(tiny_model("cohere_compass", "seqcls", num_labels=2), "seqcls", seed=2)


def test_a_layer_type_without_rotary_takes_no_positions(tiny_model):
    nope = {"sliding_attention": {"rope_type": "default", "rope_theta": 1e4}, "full_attention": None}
    path = tiny_model("cohere_compass", "causal", rope_parameters=nope)
    w = worker(path)
    assert [layer.self_attn.rotary for layer in w.model.model.layers] == [True, False]
    assert_both_ways_equal_transformers(path, "causal", seed=4, w=w)


@pytest.mark.parametrize("pooling, reduce", [("eos", lambda h: h[-1]), ("mean", lambda h: h.mean(0)), ("bos", lambda h: h[0])])
def test_the_embedder_pools_as_the_config_says(tiny_model, pooling, reduce):
    from transformers import CohereCompassForCausalLM

    path = tiny_model("cohere_compass", "causal")
    overrides = json.dumps({"architectures": ["CohereCompassTextModel"], "pooling": pooling})
    w = worker(path, json_model_override_args=overrides)
    texts = [[5, 17, 30, 8, 9, 10, 11], [44, 9, 12]]
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    ours = torch.cat(w.forward(seqs))
    ref = CohereCompassForCausalLM.from_pretrained(str(path)).eval()
    with torch.no_grad():
        expected = torch.stack([F.normalize(reduce(ref.model(input_ids=torch.tensor([ids])).last_hidden_state[0]), dim=-1)
                                for ids in texts])
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling", ["bos", "mean"])
def test_the_classifiers_other_poolings_are_refused(tiny_model, tmp_path, pooling):
    other = tmp_path / pooling
    shutil.copytree(tiny_model("cohere_compass", "seqcls", num_labels=2), other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "pooling": pooling}))
    with pytest.raises(ValueError, match=f"pooling '{pooling}' is not supported: its classifier is served at the last token"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(other)))
