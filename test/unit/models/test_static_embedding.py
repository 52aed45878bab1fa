"""Static embeddings (sentence-transformers' StaticEmbedding, no config.json): staged as a checkpoint this
runtime reads, and embedding as SentenceTransformer.encode does (tokens without special tokens, no length
limit, mean of their rows, normalised), through the worker and through the whole engine (multiscore.LLM);
model2vec's tensor name; an empty text refused; modules after it other than Normalize refused."""

import json

import numpy as np
import pytest
import torch

from make_tiny_model import build_tokenizer
from multiscore.configs.model_config import ModelConfig, load_tokenizer
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from multiscore.server_args import ServerArgs
from worker_batches import worker

TEXTS = ["the big red dog", "what is the capital of california ?", "who", "music " * 700]


def _static_model(path, normalize=True):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, StaticEmbedding

    backend = build_tokenizer("bert").backend_tokenizer
    table = np.random.default_rng(0).standard_normal((backend.get_vocab_size(), 32)).astype(np.float32)
    model = SentenceTransformer(modules=[StaticEmbedding(backend, embedding_weights=table)] + [Normalize()] * normalize)
    model.save(str(path))
    return model


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    path = tmp_path_factory.mktemp("static") / "m"
    return path, _static_model(path)


@pytest.mark.parametrize("normalize", [True, False])
def test_static_embeddings_equal_sentence_transformers(tmp_path, normalize):
    model = _static_model(tmp_path / "m", normalize)
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(tmp_path / "m"), device="cpu"))
    assert config.architecture == "StaticEmbeddingModel" and config.pooling.mode == "mean"
    assert config.pooling.normalize is normalize and config.context_length == 1 << 20
    tok = load_tokenizer(config.tokenizer_path)
    ids = [tok(t)["input_ids"] for t in TEXTS]
    assert ids[2] == model[0].tokenizer.encode("who", add_special_tokens=False).ids  # no [CLS] / [SEP]
    seqs = [ScoreSequence(str(i), x, 0, 1, PoolingParams(activation="default")) for i, x in enumerate(ids)]
    got = torch.cat(worker(tmp_path / "m").forward(seqs)).numpy()
    np.testing.assert_allclose(got, model.encode(TEXTS), atol=1e-6)


def test_the_engine_embeds_as_sentence_transformers(static):
    from multiscore import LLM

    path, model = static
    with LLM(model=str(path), num_threads=1) as llm:
        out = llm.embed(TEXTS)
        assert [len(o.prompt_token_ids) for o in out] == [len(model[0].tokenizer.encode(t, add_special_tokens=False).ids)
                                                          for t in TEXTS]
        np.testing.assert_allclose(np.array([o.outputs.embedding for o in out]), model.encode(TEXTS), atol=1e-6)
        with pytest.raises(ValueError, match="input 0 is empty: there is no token to embed"):
            llm.embed([""])


def test_model2vecs_tensor_name_loads(static, tmp_path):
    from safetensors.torch import load_file, save_file

    path, model = static
    copy = tmp_path / "m2v"
    copy.mkdir()
    for f in path.rglob("*"):
        if f.is_file():
            (copy / f.relative_to(path)).parent.mkdir(parents=True, exist_ok=True)
            (copy / f.relative_to(path)).write_bytes(f.read_bytes())
    table = load_file(str(path / "model.safetensors"))["embedding.weight"]
    save_file({"embeddings": table}, str(copy / "model.safetensors"))
    tok = load_tokenizer(ModelConfig.from_server_args(ServerArgs(model_path=str(copy), device="cpu")).tokenizer_path)
    seqs = [ScoreSequence(str(i), tok(t)["input_ids"], 0, 1, PoolingParams(activation="default")) for i, t in enumerate(TEXTS)]
    np.testing.assert_allclose(torch.cat(worker(copy).forward(seqs)).numpy(), model.encode(TEXTS), atol=1e-6)


def test_a_module_after_it_other_than_normalize_is_refused(static, tmp_path):
    import shutil

    path, _ = static
    shutil.copytree(path, tmp_path / "m")
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (tmp_path / "m" / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ValueError, match=r"StaticEmbedding checkpoint with \['sentence_transformers.models.Dense'\] after it"):
        ModelConfig.from_server_args(ServerArgs(model_path=str(tmp_path / "m"), device="cpu"))
