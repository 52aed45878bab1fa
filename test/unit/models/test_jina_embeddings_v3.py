"""jina-embeddings-v3 (transformers' ``jina_embeddings_v3``) beyond the shared encoder matrices
(test_encoder_models.py, test_token_classification.py, test_sentence_transformers_dense.py): both
tensor layouts (the original code's, which transformers itself saves, and transformers' module
names), and the model card's pooling (mean, normalised) when no sentence-transformers files say."""

import pytest
import torch
from safetensors.torch import load_file

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from remote_code_checkpoints import (JINA_TASKS, as_jina_v3_original, jina_v3_merged_deltas, jina_v3_transformers,
                                     with_transformers_names)
from test_encoder_models import DOCS, QUERIES, encode, load_ours, run_packed
from worker_batches import worker

ORIGINAL_TO_TRANSFORMERS = {"emb_ln.": "embeddings.LayerNorm.", "encoder.layers.": "layers.",
                            "mixer.out_proj.": "self_attn.o_proj.", "norm1.": "post_attention_layernorm.",
                            "norm2.": "post_mlp_layernorm."}


def test_both_tensor_layouts_load_to_the_same_model(tiny_model, tmp_path):
    path = tiny_model("jina_embeddings_v3", "seqcls")
    original = load_file(str(path / "model.safetensors"))
    assert {"roberta.emb_ln.weight", "roberta.encoder.layers.0.mixer.Wqkv.weight", "roberta.encoder.layers.1.norm2.bias",
            "classifier.out_proj.weight"} <= set(original)  # what transformers saves
    other = with_transformers_names(path, tmp_path / "transformers-names", "mixer.Wqkv", ORIGINAL_TO_TRANSFORMERS)
    seqs = [(list(range(5, 17)), [0] * 12), (list(range(20, 25)), [0] * 5)]
    ours_other, ours = run_packed(load_ours(other), seqs), run_packed(load_ours(path), seqs)
    torch.testing.assert_close(ours_other[0], ours[0], atol=0, rtol=0)
    torch.testing.assert_close(torch.cat(ours_other[1]), torch.cat(ours[1]), atol=0, rtol=0)


def test_without_sentence_transformers_files_it_mean_pools_and_normalises(tiny_model):
    """The model card's recipe: transformers' hidden states, mean over each text's tokens, L2-normalised."""
    from transformers import AutoModel, AutoTokenizer

    path = tiny_model("jina_embeddings_v3", "embed")
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    seqs = encode(AutoTokenizer.from_pretrained(str(path)), QUERIES, None) + encode(AutoTokenizer.from_pretrained(str(path)), DOCS, None)
    got = torch.cat(w.forward([ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default"), token_type_ids=types)
                               for i, (ids, types) in enumerate(seqs)]))
    ref = AutoModel.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        means = torch.stack([ref(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0) for ids, _ in seqs])
    torch.testing.assert_close(got, torch.nn.functional.normalize(means, dim=-1), atol=1e-5, rtol=0)


def _embeddings(path, texts_of, **server_args):
    """Our mean-pooled, normalised embeddings of QUERIES and DOCS through the worker."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(texts_of))
    seqs = encode(tok, QUERIES, None) + encode(tok, DOCS, None)
    w = worker(path, **server_args)
    return torch.cat(w.forward([ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default"), token_type_ids=types)
                                for i, (ids, types) in enumerate(seqs)])), seqs


def _transformers_embeddings(path, seqs, merge=None):
    """transformers' JinaEmbeddingsV3Model, its weights changed by ``merge`` {name: delta} first: mean-pooled, normalised."""
    ref = jina_v3_transformers(path, merge)
    with torch.no_grad():
        means = torch.stack([ref(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0) for ids, _ in seqs])
    return torch.nn.functional.normalize(means, dim=-1)


def test_the_published_checkpoint_without_a_task_is_the_base_model(tiny_model, tmp_path):
    path = tiny_model("jina_embeddings_v3", "embed")
    original, _ = as_jina_v3_original(path, tmp_path / "jina-v3")
    got, seqs = _embeddings(original, path)
    assert type(worker(original).model).__name__ == "XLMRobertaLoRA"
    torch.testing.assert_close(got, _transformers_embeddings(path, seqs), atol=1e-5, rtol=0)


def test_a_task_merges_its_adapter_into_every_linear_and_embedding(tiny_model, tmp_path):
    """lora_task: W + (alpha / rank)·B·A (an Embedding: A·B) of that task, against transformers given those weights."""
    path = tiny_model("jina_embeddings_v3", "embed")
    original, adapters = as_jina_v3_original(path, tmp_path / "jina-v3", rank=4, alpha=2.0)
    merge = jina_v3_merged_deltas(adapters, JINA_TASKS.index("retrieval.passage"))
    assert len(merge) == 2 + 2 * 6 + 1  # word, token-type embeddings; q, k, v, o, fc1, fc2 of 2 layers; the unused pooler
    got, seqs = _embeddings(original, path, json_model_override_args='{"lora_task": "retrieval.passage"}')
    torch.testing.assert_close(got, _transformers_embeddings(path, seqs, merge), atol=1e-5, rtol=0)
    assert (got - _transformers_embeddings(path, seqs)).abs().max() > 1e-2  # the adapter moves the embeddings


def test_one_batch_mixes_tasks_each_sequence_with_its_own_adapter(tiny_model, tmp_path):
    """PoolingParams.adapter per sequence (Jina's per-request task): every task and none in one packed batch,
    each text against transformers given that task's merged weights."""
    from transformers import AutoTokenizer

    path = tiny_model("jina_embeddings_v3", "embed")
    original, adapters = as_jina_v3_original(path, tmp_path / "jina-v3", rank=4, alpha=2.0)
    tok = AutoTokenizer.from_pretrained(str(path))
    seqs = encode(tok, QUERIES, None) + encode(tok, DOCS, None)
    tasks = [(None, 0, 1, 2, 3, 4)[i % 6] for i in range(len(seqs))]
    w = worker(original)
    got = torch.cat(w.forward([ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default", adapter=task),
                                             token_type_ids=types) for i, ((ids, types), task) in enumerate(zip(seqs, tasks))]))
    for i, (seq, task) in enumerate(zip(seqs, tasks)):
        merge = None if task is None else jina_v3_merged_deltas(adapters, task)
        torch.testing.assert_close(got[i:i + 1], _transformers_embeddings(path, [seq], merge), atol=1e-5, rtol=0)
    alone = torch.cat(w.forward([ScoreSequence("a", seqs[1][0], 0, 1, PoolingParams(activation="default", adapter=0),
                                                token_type_ids=seqs[1][1])]))
    torch.testing.assert_close(alone, got[1:2], atol=1e-6, rtol=0)  # one task on every row of the batch
    assert (got[1] - _transformers_embeddings(path, [seqs[1]])[0]).abs().max() > 1e-2


def test_an_unknown_task_is_refused_with_the_tasks_there_are(tiny_model, tmp_path):
    original, _ = as_jina_v3_original(tiny_model("jina_embeddings_v3", "embed"), tmp_path / "jina-v3")
    with pytest.raises(ValueError, match=r"lora_task 'query' is not one of this checkpoint's lora_adaptations: \['retrieval.query'"):
        load_ours(original, json_model_override_args='{"lora_task": "query"}')


def test_a_requests_task_resolves_to_its_adapter_and_instruction():
    """PoolingModel.task_adapter: per-request adapters, the one merged at load (lora_task), and none."""
    from types import SimpleNamespace

    from multiscore.models.jina_embeddings_v3 import JinaEmbeddingsV3Model, XLMRobertaLoRA
    from remote_code_checkpoints import JINA_INSTRUCTIONS

    config = SimpleNamespace(architectures=["XLMRobertaLoRA"], lora_adaptations=JINA_TASKS, task_instructions=JINA_INSTRUCTIONS)
    assert XLMRobertaLoRA.task_adapter(config, "retrieval.passage") == (1, "Represent the document for retrieval: ")
    assert XLMRobertaLoRA.task_adapter(config, "text-matching") == (4, "")
    config.lora_task = "retrieval.passage"  # merged at load: its requests run on the weights as loaded
    assert XLMRobertaLoRA.task_adapter(config, "retrieval.passage") == (None, "Represent the document for retrieval: ")
    with pytest.raises(ValueError, match="merged the 'retrieval.passage' adapter into its weights at load"):
        XLMRobertaLoRA.task_adapter(config, "retrieval.query")
    bare = SimpleNamespace(architectures=["JinaEmbeddingsV3Model"])
    with pytest.raises(ValueError, match=r"this model \(JinaEmbeddingsV3Model\) has no task adapters"):
        JinaEmbeddingsV3Model.task_adapter(bare, "retrieval.query")
