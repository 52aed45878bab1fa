"""sentence-transformers Dense modules after pooling (EmbeddingGemma has two): our embeddings equal
SentenceTransformer.encode on a tiny checkpoint with Pooling -> Dense -> Dense -> Normalize files."""

import json

import numpy as np
import pytest
import torch

from st_files import add_dense_module, write_sentence_transformers_files
from multiscore.configs.model_config import ModelConfig
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from worker_batches import worker

TEXTS = ["the capital of the country", "a big dog", "music and history of the city in summer"]
TANH = "torch.nn.modules.activation.Tanh"
IDENTITY = "torch.nn.modules.linear.Identity"


@pytest.fixture(scope="module")
def dense_model(tiny_model, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("dense") / "m"
    shutil.copytree(tiny_model("bert", "embed"), path)
    write_sentence_transformers_files(path, "mean", normalize=False, max_seq_length=128)
    modules = json.loads((path / "modules.json").read_text())
    modules.append(add_dense_module(path, 2, 64, 32, True, TANH, seed=1))
    modules.append(add_dense_module(path, 3, 32, 48, False, IDENTITY, seed=2))
    modules.append({"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"})
    (path / "4_Normalize").mkdir()
    (path / "modules.json").write_text(json.dumps(modules))
    return path


def test_dense_layers_equal_sentence_transformers(dense_model):
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    expected = SentenceTransformer(str(dense_model), device="cpu").encode(TEXTS, convert_to_numpy=True)
    assert expected.shape == (3, 48)
    tok = AutoTokenizer.from_pretrained(str(dense_model))
    seqs = [ScoreSequence(str(i), tok(t)["input_ids"], 0, 1, PoolingParams(activation="default"),
                          token_type_ids=[0] * len(tok(t)["input_ids"])) for i, t in enumerate(TEXTS)]
    got = torch.cat(worker(dense_model).forward(seqs)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_embedding_size_follows_the_last_dense_layer(dense_model):
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(dense_model), device="cpu"))
    assert [d.out_features for d in config.pooling.dense] == [32, 48]
    assert config.embedding_size == 48


def test_an_unsupported_dense_activation_is_refused(dense_model, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(dense_model, path)
    config = json.loads((path / "2_Dense" / "config.json").read_text())
    (path / "2_Dense" / "config.json").write_text(json.dumps({**config, "activation_function": "torch.nn.ReLU6"}))
    with pytest.raises(ValueError, match="unsupported sentence-transformers Dense activation 'torch.nn.ReLU6'"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu"))


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta", "roberta", "electra", "distilbert", "modernbert", "nomic_bert",
                                  "deberta_v2", "mpnet", "gte", "eurobert", "ernie", "jina_embeddings_v3"])
def test_every_encoder_embeds_as_sentence_transformers(tiny_model, tmp_path, arch):
    """Each bare encoder with mean pooling and Normalize files, through the worker: SentenceTransformer.encode."""
    import shutil

    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    path = tmp_path / arch
    shutil.copytree(tiny_model(arch, "embed"), path)
    write_sentence_transformers_files(path, "mean", normalize=True, max_seq_length=128)
    expected = SentenceTransformer(str(path), device="cpu").encode(TEXTS, convert_to_numpy=True)
    tok = AutoTokenizer.from_pretrained(str(path))
    encoded = [tok(t, return_token_type_ids=True) for t in TEXTS]
    seqs = [ScoreSequence(str(i), e["input_ids"], 0, 1, PoolingParams(activation="default"), token_type_ids=e["token_type_ids"])
            for i, e in enumerate(encoded)]
    np.testing.assert_allclose(torch.cat(worker(path).forward(seqs)).numpy(), expected, atol=1e-5)
