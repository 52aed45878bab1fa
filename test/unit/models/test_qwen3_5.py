"""Qwen3.5 (text, dense) against transformers: linear-attention layers (a gated delta rule after a
causal convolution, 4 value heads over 2 key heads) between gated attention layers with a partial
rotary; single-item and MIS (items start from their query's recurrent state and convolution
history), an empty query, the classifier, the bare model, the multimodal checkpoint on text; the
prefix cache is off and says why."""

import pytest
import torch

from make_tiny_model import QWEN3_5_MOE_EXPERTS, build_tokenizer, _qwen3_5_config
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.model_executor.mis_layout import pack_mis
from multiscore.models.gated_delta_net import GatedDeltaNet
from multiscore.models.sparse_moe import SparseMoeBlock
from worker_batches import D, mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


def _hf(path, cls_name="AutoModelForCausalLM"):
    import transformers

    return getattr(transformers, cls_name).from_pretrained(str(path), dtype=torch.float32).eval()


def _label_softmax(model, query, items):
    with torch.no_grad():
        logits = torch.stack([model(input_ids=torch.tensor([query + item])).logits[0, -1] for item in items])
    return torch.softmax(logits[:, LABELS], -1)


@pytest.mark.parametrize("seed", [0, 7])
def test_qwen3_5_equals_transformers_single_item_and_mis(tiny_model, seed):
    path = tiny_model("qwen3_5", "causal")
    w = worker(path)
    query, items = mixed_inputs(seed=seed)
    assert any(len(item) == 0 for item in mixed_inputs(seed=0)[1])  # an empty item reads the query's last token
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = _label_softmax(_hf(path), query, items)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_chunks_of_the_delta_rule_that_split_queries_and_items_change_nothing(tiny_model):
    """Chunks of 4 steps: the 9-token query spans three, longer items two (the default of 64 spans
    everything in these tests)."""
    path = tiny_model("qwen3_5", "causal")
    w = worker(path)
    layers = [m for m in w.model.modules() if isinstance(m, GatedDeltaNet)]
    assert layers
    for layer in layers:
        layer.chunk_size = 4
    query, items = mixed_inputs(seed=3)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = _label_softmax(_hf(path), query, items)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_items_of_a_query_shorter_than_the_convolution_see_zeros_before_it(tiny_model):
    path = tiny_model("qwen3_5", "causal")
    query, items = [11, 12], [[13, 14, 15], [16], [17, 18, 19, 20, 21]]  # kernel 4: 3 inputs of history
    _, mis = score_both_ways(worker(path), query, items, LABELS, apply_softmax=True)
    torch.testing.assert_close(torch.tensor(mis), _label_softmax(_hf(path), query, items), atol=1e-5, rtol=0)


def test_mis_items_of_an_empty_query_start_from_nothing(tiny_model):
    path = tiny_model("qwen3_5", "causal")
    items = [[12, 13, 14], [15], [16, 17, 18, 19, 20, 21]]
    pooling = PoolingParams(label_token_ids=LABELS, activation="softmax")
    mis = ScoreSequence("m", pack_mis([], items, D), 0, 3, pooling, query_len=0, item_lens=[len(i) for i in items])
    got = worker(path).forward([mis])[0]
    torch.testing.assert_close(got, _label_softmax(_hf(path), [], items), atol=1e-5, rtol=0)


def test_the_classifier_equals_transformers(tiny_model):
    path = tiny_model("qwen3_5", "seqcls")
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(path), query, items, None)
    hf = _hf(path, "AutoModelForSequenceClassification")
    with torch.no_grad():
        ref = torch.cat([hf(input_ids=torch.tensor([query + item])).logits for item in items])
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_bare_model_embeds_as_transformers(tiny_model):
    path = tiny_model("qwen3_5", "causal")
    w = worker(path, json_model_override_args='{"architectures": ["Qwen3_5TextModel"]}')
    texts = [[5, 17, 30, 8, 9, 10], [44, 9]]
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(texts)]
    bare = _hf(path, "Qwen3_5TextModel")
    with torch.no_grad():
        last = torch.stack([bare(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in texts])
    torch.testing.assert_close(torch.cat(w.forward(seqs)), torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)


def test_the_prefix_cache_is_off_and_says_why(tiny_model):
    w = worker(tiny_model("qwen3_5", "causal"))
    assert w.prefix_cache is None
    assert w.prefix_cache_reason == ("off: Qwen3_5ForCausalLM: its linear-attention layers keep a recurrent state, "
                                     "not per-token keys")


@pytest.mark.parametrize("moe", [False, True], ids=["dense", "moe"])
def test_a_multimodal_checkpoint_serves_its_language_model(tmp_path, moe):
    import transformers

    prefix = "Qwen3_5Moe" if moe else "Qwen3_5"
    tokenizer = build_tokenizer("qwen3")
    vocab = (len(tokenizer) + 63) // 64 * 64
    text = dict(vocab_size=vocab, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                head_dim=16, max_position_embeddings=4096, initializer_range=0.1, **_qwen3_5_config())
    text.update(QWEN3_5_MOE_EXPERTS if moe else {"intermediate_size": 128})
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=16)
    config = getattr(transformers, prefix + "Config")(
        text_config=text, vision_config=vision, image_token_id=vocab - 1, video_token_id=vocab - 2,
        vision_start_token_id=vocab - 3, vision_end_token_id=vocab - 4, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = getattr(transformers, prefix + "ForConditionalGeneration")(config).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    w = worker(tmp_path)
    assert type(w.model).__name__ == "Qwen3_5ForCausalLM"  # Qwen3_5MoeForCausalLM is the same class
    assert any(isinstance(m, SparseMoeBlock) for m in w.model.modules()) == moe
    query, items = mixed_inputs(seed=4)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = _label_softmax(model, query, items)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
