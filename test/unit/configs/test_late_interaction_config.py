"""ColBERT settings read from a checkpoint's files: pylate's config_sentence_transformers.json and
Stanford's artifact.metadata, with pylate's defaults for what they leave out."""

from __future__ import annotations

import json
import string

import pytest
import torch
from safetensors.torch import save_file

from multiscore.configs.late_interaction_config import LateInteractionConfig, read_late_interaction_config
from multiscore.configs.pooling_config import read_pooling_config


def _modules(*types: str) -> list[dict]:
    return [{"idx": i, "name": str(i), "path": "", "type": t} for i, t in enumerate(types)]


def _write(path, name, data):
    (path / name).parent.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps(data))


def test_not_colbert_without_pylate_modules_or_a_stanford_architecture(tmp_path):
    _write(tmp_path, "config.json", {"architectures": ["BertModel"]})
    assert read_late_interaction_config(str(tmp_path), _modules("sentence_transformers.models.Transformer"), {}, {}, None) is None


def test_pylate_settings_and_defaults(tmp_path):
    types = _modules("sentence_transformers.models.Transformer", "pylate.models.Dense.Dense")
    cfg = read_late_interaction_config(str(tmp_path), types, {"query_length": 48, "document_prefix": "",
                                                               "skiplist_words": ["!", "?"]}, {}, None)
    assert cfg == LateInteractionConfig(query_prefix="[Q] ", document_prefix="", query_length=48, document_length=180,
                                        do_query_expansion=True, attend_to_expansion_tokens=False,
                                        skiplist_words=("!", "?"))
    # pylate: without expansion, nothing is attended to beyond the query, whatever the file says.
    cfg = read_late_interaction_config(str(tmp_path), types, {"do_query_expansion": False, "attend_to_expansion_tokens": True},
                                       {}, None)
    assert not cfg.do_query_expansion and not cfg.attend_to_expansion_tokens
    # MaxSim as the similarity marks a pylate model even when modules.json names other classes.
    assert read_late_interaction_config(str(tmp_path), [], {"similarity_fn_name": "MaxSim"}, {}, None).query_prefix == "[Q] "


def test_stanford_metadata_and_projection_size(tmp_path):
    _write(tmp_path, "config.json", {"architectures": ["HF_ColBERT"]})
    save_file({"linear.weight": torch.zeros(24, 64), "bert.embeddings.word_embeddings.weight": torch.zeros(10, 64)},
              str(tmp_path / "model.safetensors"))
    cfg = read_late_interaction_config(str(tmp_path), [], {}, {}, None)
    assert (cfg.query_prefix, cfg.document_prefix, cfg.query_length, cfg.document_length) == ("[unused0]", "[unused1]", 32, 180)
    assert cfg.do_query_expansion and not cfg.attend_to_expansion_tokens
    assert cfg.skiplist_words == tuple(string.punctuation)
    assert cfg.projection_dim == 24  # from linear.weight's rows
    _write(tmp_path, "artifact.metadata", {"query_maxlen": 40, "doc_maxlen": 300, "attend_to_mask_tokens": True, "dim": 96})
    cfg = read_late_interaction_config(str(tmp_path), [], {}, {}, None)
    assert (cfg.query_length, cfg.document_length, cfg.attend_to_expansion_tokens, cfg.projection_dim) == (40, 300, True, 96)
    # No modules.json: the pooling config still carries it.
    assert read_pooling_config(str(tmp_path), is_encoder=True).late_interaction == cfg


def test_lengths_that_leave_no_room_are_refused(tmp_path):
    with pytest.raises(ValueError, match="query_length=3 leaves no room"):
        read_late_interaction_config(str(tmp_path), _modules("pylate.models.Dense.Dense"), {"query_length": 3}, {}, None)


def test_pylate_dense_with_a_residual_is_refused(tmp_path):
    _write(tmp_path, "modules.json", [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                                       {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"}])
    _write(tmp_path, "1_Dense/config.json", {"in_features": 64, "out_features": 16, "bias": False, "use_residual": True,
                                             "activation_function": "torch.nn.modules.linear.Identity"})
    with pytest.raises(ValueError, match="use_residual is not implemented"):
        read_pooling_config(str(tmp_path), is_encoder=True)
