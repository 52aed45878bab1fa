"""Aria's language model against transformers, single-item and MIS: Llama's attention, experts chosen by their raw
logits and weighted by a softmax over the chosen, stored 3-D transposed (fc1 / fc2), beside shared experts;
as a yes/no reranker."""

from worker_batches import assert_both_ways_equal_transformers, assert_yes_no_classifier_equals_transformers, worker


def test_aria_text_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("aria_text", "causal")
    w = worker(path)
    assert type(w.model.model.layers[1].mlp).__name__ == "AriaMoe"
    for seed in (0, 3, 6):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_converted_to_a_yes_no_reranker(tiny_model):
    assert_yes_no_classifier_equals_transformers(tiny_model("aria_text", "causal"), "AriaTextForSequenceClassification")
