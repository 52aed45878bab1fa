"""MiniMax-M2 against transformers, single-item and MIS: q/k norms across heads, rotary on half of each
head, every MLP 4 experts (the hub's w1/w3/w2 names) chosen by a sigmoid plus a perturbed correction bias."""

from worker_batches import assert_both_ways_equal_transformers, worker


def test_minimax_m2_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("minimax_m2", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert {type(layer.mlp).__name__ for layer in layers} == {"MiniMaxM2MoeBlock"}
    assert layers[0].self_attn.q_norm.weight.shape == (64,)  # one norm over the 4 heads of 16
    assert layers[0].mlp.e_score_correction_bias.abs().sum() > 0  # the checkpoint's (perturbed) bias loaded
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
