"""vLLM's --pooler-config read into PoolerOverrides (configs/pooler_overrides.py)."""

import pytest

from multiscore.configs.pooler_overrides import PoolerOverrides


def test_nothing_given_overrides_nothing():
    assert PoolerOverrides.parse(None) == PoolerOverrides.parse("") == PoolerOverrides.parse("{}") == PoolerOverrides()
    assert PoolerOverrides().use_activation_for(None) is None and not PoolerOverrides().calibrates


def test_vllms_keys_and_their_old_names():
    o = PoolerOverrides.parse('{"pooling_type": "MEAN", "use_activation": false, "dimensions": 32, "task": "embed"}')
    assert (o.pooling_type, o.use_activation, o.dimensions, o.task) == ("mean", False, 32, "embed")
    assert PoolerOverrides.parse('{"seq_pooling_type": "CLS", "tok_pooling_type": "ALL"}').pooling_type == "cls"
    assert PoolerOverrides.parse('{"pooling_type": "ALL"}').pooling_type is None  # token tasks pool ALL here
    assert PoolerOverrides.parse('{"pooling_type": "last"}').pooling_type == "last"
    assert PoolerOverrides.parse('{"pooling_task": "token_classify"}').task == "token_classify"  # vLLM's other name
    for old in ("normalize", "softmax", "activation"):
        assert PoolerOverrides.parse(f'{{"{old}": false}}').use_activation is False
    calibrated = PoolerOverrides.parse('{"logit_bias": 2.5, "logit_scale": 4}')  # logit_sigma = 1 / logit_scale
    assert (calibrated.logit_mean, calibrated.logit_sigma, calibrated.calibrates) == (2.5, 0.25, True)
    assert PoolerOverrides.parse({"logit_sigma": 3}).logit_sigma == 3.0  # a dict, from Engine(pooler_config={...})
    assert PoolerOverrides.parse('{"step_tag_id": null, "enable_chunked_processing": false}') == PoolerOverrides()
    chunked = PoolerOverrides.parse('{"enable_chunked_processing": true, "max_embed_len": 3072000}')
    assert (chunked.chunked, chunked.max_embed_len) == (True, 3072000)


def test_a_request_value_wins_over_the_default():
    o = PoolerOverrides.parse('{"use_activation": false}')
    assert o.use_activation_for(None) is False and o.use_activation_for(True) is True


@pytest.mark.parametrize("text,message", [
    ("not json", "not valid JSON"),
    ("[1]", "must be a JSON object"),
    ('{"pooling": "MEAN"}', "unknown key\\(s\\) pooling"),
    ('{"pooling_type": "MAX"}', "pooling_type must be one of CLS, MEAN, LAST, ALL, STEP, got 'MAX'"),
    ('{"pooling_type": "MEAN", "seq_pooling_type": "MEAN"}', "not both"),
    ('{"tok_pooling_type": "STEP"}', "process reward models are not served"),
    ('{"step_tag_id": 12}', "step_tag_id: process reward models"),
    ('{"returned_token_ids": [1, 2]}', "returned_token_ids: process reward models"),
    ('{"enable_chunked_processing": "yes"}', "enable_chunked_processing must be true or false"),
    ('{"max_embed_len": 9000}', "max_embed_len bounds the inputs that enable_chunked_processing splits"),
    ('{"enable_chunked_processing": true, "max_embed_len": 0}', "max_embed_len must be a positive integer"),
    ('{"use_activation": "yes"}', "use_activation must be true or false"),
    ('{"normalize": true, "softmax": false}', "normalize and softmax disagree"),
    ('{"dimensions": 0}', "dimensions must be a positive integer"),
    ('{"dimensions": true}', "dimensions must be a positive integer"),
    ('{"logit_mean": "1"}', "logit_mean must be a number"),
    ('{"logit_mean": 1, "logit_bias": 1}', "logit_mean or its old name logit_bias"),
    ('{"logit_sigma": 0}', "logit_sigma cannot be 0"),
    ('{"logit_scale": 0}', "logit_scale cannot be 0"),
    ('{"logit_sigma": 1, "logit_scale": 1}', "not both"),
    ('{"task": "embed", "pooling_task": "classify"}', "task and pooling_task disagree"),
    ('{"task": "plugin"}', "task must be one of embed, classify, score, token_embed, token_classify"),
])
def test_bad_configs_are_refused_with_the_key(text, message):
    with pytest.raises(ValueError, match=message):
        PoolerOverrides.parse(text)
