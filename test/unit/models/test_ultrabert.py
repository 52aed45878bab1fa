"""UltraBERT beyond the shared encoder matrices (test_encoder_models.py, test_token_classification.py,
where it is checked against transformers): the mean-pooled classifier, and that its sliding window and
its per-layer-type rotary bases are in play on those matrices' inputs."""

import pytest
import torch

from test_encoder_models import ATOL, DOCS, QUERIES, encode, load_ours, load_reference, run_packed


def test_the_mean_pooled_classifier_equals_transformers(tiny_model):
    from transformers import AutoTokenizer

    path = tiny_model("ultrabert", "seqcls", num_labels=3, classifier_pooling="mean")
    seqs = encode(AutoTokenizer.from_pretrained(path), QUERIES, DOCS)
    _, outputs = run_packed(load_ours(path), seqs)
    ref = load_reference(path, "seqcls")
    for (ids, _), got in zip(seqs, outputs):
        with torch.no_grad():
            torch.testing.assert_close(got[0], ref(input_ids=torch.tensor([ids])).logits[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("change", [{"sliding_window": 64},
                                    {"rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 160000.0},
                                                         "full_attention": {"rope_type": "default", "rope_theta": 160000.0}}}])
def test_the_window_and_the_two_rotary_bases_are_in_play(tiny_model, change):
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    path = tiny_model("ultrabert", "embed")
    ids, _ = encode(AutoTokenizer.from_pretrained(path), QUERIES[:1], DOCS[:1])[0]
    config = AutoConfig.from_pretrained(path)
    for key, value in change.items():
        setattr(config, key, value)
    with torch.no_grad():
        base = load_reference(path, "embed")(input_ids=torch.tensor([ids])).last_hidden_state[0]
        changed = AutoModel.from_pretrained(path, config=config).eval()(input_ids=torch.tensor([ids])).last_hidden_state[0]
    assert len(ids) > 2 * 4 + 1 and (base - changed).abs().max() > 1e-2
