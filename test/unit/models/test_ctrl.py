"""CTRL against transformers, single-item and MIS: pre-norm blocks (their LayerNorms at eps 1e-6, the final one at
the config's), embeddings times sqrt(n_embd), sinusoidal positions, the LM tied to the embeddings with its own bias;
causal LM and classifier; given embeddings scaled as transformers scales inputs_embeds."""

import pytest
import torch

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_ctrl_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("ctrl", head)
    w = worker(path)
    assert type(w.model.model.h[0]).__name__ == "CtrlLayer"
    assert head != "causal" or w.model.lm_head.bias is not None
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_the_final_norm_keeps_the_configs_eps(tiny_model):
    """layer_norm_epsilon is the final norm's alone (0.5 here, far from the layers' 1e-6)."""
    assert_both_ways_equal_transformers(tiny_model("ctrl", "seqcls", layer_norm_epsilon=0.5), "seqcls", seed=3)


def test_given_embeddings_are_scaled_as_transformers_scales_inputs_embeds(tiny_model):
    from hf_reference import load_model

    from multiscore.layers.attention import BatchAttention, get_backend_class
    from multiscore.messages import PoolingParams
    from multiscore.model_executor.forward_batch import ForwardBatch, ScoreSequence

    path = tiny_model("ctrl", "seqcls")
    ref, ours = load_model(str(path)), worker(path).model
    ids = [5, 9, 17, 33, 4]
    vectors = torch.randn(2, 64).numpy()
    seq = ScoreSequence("r", ids, 0, 1, PoolingParams(), embed_rows=[1, 3], embeds=vectors)
    batch = ForwardBatch.build([seq], torch.device("cpu"))
    backend = get_backend_class("torch")(torch.device("cpu"), torch.float32, 4, 4, 16)
    attention = BatchAttention(backend, backend.build_metadata(batch.layouts))
    with torch.no_grad():
        got = ours(batch, attention)[0]
        embeds = ref.transformer.w(torch.tensor([ids]))
        embeds[0, [1, 3]] = torch.from_numpy(vectors)
        expected = ref(inputs_embeds=embeds).logits[0]
    torch.testing.assert_close(got[0], expected, atol=1e-5, rtol=0)
