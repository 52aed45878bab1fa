"""The context length against the checkpoint's position embeddings: a --context-length past what an
encoder's learned position table can number is refused at start-up (it used to start, and then
answer 500 to every input that long)."""

from __future__ import annotations

import pytest

from multiscore.configs.model_config import ModelConfig
from multiscore.server_args import ServerArgs


def _config(path, **kw) -> ModelConfig:
    return ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", **kw))


@pytest.mark.parametrize(
    "arch, positions, limit",
    [
        ("xlm_roberta", 512, 510),  # fairseq numbering: positions after the padding index (pad_token_id 1)
        ("xlm_roberta", 514, 512),  # multilingual-e5 / bge-m3's table
        ("bert", 512, 512),
        ("distilbert", 512, 512),
        ("mpnet", 514, 512),  # numbered after the padding index too
    ],
)
def test_context_length_stops_at_the_position_table(tiny_model, arch, positions, limit):
    overrides = {"max_position_embeddings": positions} if arch != "distilbert" else {}
    path = tiny_model(arch, "embed", **overrides)
    assert _config(path).context_length == limit
    assert _config(path, context_length=limit).context_length == limit
    with pytest.raises(ValueError, match=rf"--context-length {limit + 1} exceeds the {limit} positions the model's "
                                         rf"position embeddings can number \(max_position_embeddings {positions}\)"):
        _config(path, context_length=limit + 1)


def test_rotary_decoders_take_a_longer_context(tiny_model):
    """Rotary positions set no hard limit: a decoder may be served past max_position_embeddings."""
    path = tiny_model("qwen3", "seqcls", num_labels=1)
    assert _config(path, context_length=8192).context_length == 8192


@pytest.mark.parametrize("config_class", ["RobertaConfig", "Data2VecTextConfig", "IBertConfig", "LongformerConfig", "LukeConfig", "XmodConfig"])
def test_roberta_kin_number_positions_after_the_padding_index(config_class):
    """Their position tables reserve rows up to the padding index: 514 rows, pad_token_id 1 -> 512 tokens."""
    import transformers

    from multiscore.configs.attention_geometry import position_limit

    assert position_limit(getattr(transformers, config_class)(max_position_embeddings=514, pad_token_id=1)) == 512
