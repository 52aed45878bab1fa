"""Pooling read from sentence-transformers files, and the pooling arithmetic itself."""

from __future__ import annotations

import json

import pytest

from multiscore.configs.pooling_config import PoolingConfig, read_pooling_config

TRANSFORMER = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
NORMALIZE = {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}


def _write_st(tmp_path, modules, pooling: dict | None = None, max_seq_length=None):
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (tmp_path / "1_Pooling").mkdir()
        (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    if max_seq_length is not None:
        (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return str(tmp_path)


def test_defaults_without_sentence_transformers_files(tmp_path):
    assert read_pooling_config(str(tmp_path), is_encoder=True) == PoolingConfig("cls", True)
    assert read_pooling_config(str(tmp_path), is_encoder=False) == PoolingConfig("last", True)


def test_minilm_style_mean_normalised(tmp_path):
    flags = {"word_embedding_dimension": 8, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
             "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}
    path = _write_st(tmp_path, [TRANSFORMER, POOLING, NORMALIZE], flags, max_seq_length=256)
    assert read_pooling_config(path, is_encoder=True) == PoolingConfig("mean", True, 256)


@pytest.mark.parametrize(
    "pooling, mode",
    [({"pooling_mode_cls_token": True}, "cls"), ({"pooling_mode_lasttoken": True}, "last"),
     ({"pooling_mode": "lasttoken"}, "last"), ({"pooling_mode": "mean"}, "mean")],
)
def test_pooling_modes_without_normalize(tmp_path, pooling, mode):
    path = _write_st(tmp_path, [TRANSFORMER, POOLING], pooling)
    assert read_pooling_config(path, is_encoder=True) == PoolingConfig(mode, False)


def test_unsupported_pooling_is_an_error(tmp_path):
    path = _write_st(tmp_path, [TRANSFORMER, POOLING], {"pooling_mode_max_tokens": True})
    with pytest.raises(ValueError, match="unsupported sentence-transformers pooling.*pooling_mode_max_tokens"):
        read_pooling_config(path, is_encoder=True)


def test_sentence_transformers_prompts_and_the_default(tmp_path):
    (tmp_path / "modules.json").write_text(json.dumps([]))
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": ""}, "default_prompt_name": "query"}))
    pooling = read_pooling_config(str(tmp_path), is_encoder=True)
    assert pooling.prompt_text(None) == "query: "  # the default, as encode() applies it
    assert pooling.prompt_text("document") == ""
    with pytest.raises(ValueError, match="not one of the model's prompts \\(document, query\\)"):
        pooling.prompt_text("passage")
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {}, "default_prompt_name": "x"}))
    with pytest.raises(ValueError, match="default_prompt_name 'x' names no prompt"):
        read_pooling_config(str(tmp_path), is_encoder=True)


SPLADE = {"idx": 1, "name": "1", "path": "1_SpladePooling",
          "type": "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"}


def _write_splade(tmp_path, config: dict):
    (tmp_path / "modules.json").write_text(json.dumps([TRANSFORMER, SPLADE]))
    (tmp_path / "1_SpladePooling").mkdir()
    (tmp_path / "1_SpladePooling" / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


@pytest.mark.parametrize("strategy", ["max", "sum"])
def test_splade_pooling_is_read(tmp_path, strategy):
    config = read_pooling_config(_write_splade(tmp_path, {"pooling_strategy": strategy, "activation_function": "relu"}),
                                 is_encoder=True)
    assert (config.mode, config.splade_strategy, config.normalize) == ("splade", strategy, False)


def test_unsupported_splade_pooling_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unsupported SpladePooling .* 'mean'"):
        read_pooling_config(_write_splade(tmp_path, {"pooling_strategy": "mean"}), is_encoder=True)


@pytest.mark.parametrize("saved, tokenizer_max, expected", [
    (256, 128, 256),  # sentence_bert_config.json's max_seq_length wins (sentence-transformers <= 5)
    (None, 128, 128),  # sentence-transformers 6: the tokenizer's model_max_length
    (None, int(1e30), None),  # transformers' "no limit": the model's positions decide
    (None, None, None),
])
def test_max_seq_length_from_the_tokenizer_when_unsaved(tmp_path, saved, tokenizer_max, expected):
    path = _write_st(tmp_path, [TRANSFORMER, POOLING], {"pooling_mode": "mean"}, max_seq_length=saved)
    if tokenizer_max is not None:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": tokenizer_max}))
    assert read_pooling_config(path, is_encoder=True).max_seq_length == expected


def test_a_router_checkpoint_is_refused_with_its_routes(tmp_path):
    """sentence-transformers' Router (query and document inputs through different modules), as it saves one."""
    import tokenizers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Router, StaticEmbedding

    from make_tiny_model import build_tokenizer
    from multiscore.configs.model_config import ModelConfig
    from multiscore.server_args import ServerArgs

    build_tokenizer("qwen3").save_pretrained(tmp_path / "tok")
    tok = tokenizers.Tokenizer.from_file(str(tmp_path / "tok" / "tokenizer.json"))
    router = Router.for_query_document(query_modules=[StaticEmbedding(tok, embedding_dim=8)],
                                       document_modules=[StaticEmbedding(tok, embedding_dim=8), Normalize()])
    SentenceTransformer(modules=[router]).save(str(tmp_path / "router"))
    with pytest.raises(ValueError, match=r"Router: query: query_0_StaticEmbedding; document: document_0_StaticEmbedding, "
                                         r"document_1_Normalize\), which is not supported"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(tmp_path / "router"), device="cpu"))
