"""``is_causal: false`` (vLLM's override for decoders trained with bidirectional attention) on the
decoder families' embedding and classifier heads, against
transformers' model run with an all-visible mask; the causal LM head refuses it."""

import json

import pytest
import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import worker

TEXTS = [[5, 17, 30, 8, 9, 10, 11], [44, 9], [12, 13, 14, 15, 16, 70, 71, 72, 73]]


def bidirectional_reference(cls, path):
    model = cls.from_pretrained(str(path), dtype=torch.float32).eval()
    for module in model.modules():
        if hasattr(module, "is_causal"):
            module.is_causal = False
    return model


def run_reference(model, ids):
    visible = torch.zeros(1, 1, len(ids), len(ids))  # an additive 4-D mask: every key visible
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids]), attention_mask=visible)


@pytest.mark.parametrize("arch", ["qwen2", "qwen3", "llama", "mistral"])
def test_embedder_sees_both_ways(tiny_model, arch):
    from transformers import AutoModel

    path = tiny_model(arch, "causal")
    bare = {"qwen2": "Qwen2Model", "qwen3": "Qwen3Model", "llama": "LlamaModel", "mistral": "MistralModel"}[arch]
    w = worker(path, json_model_override_args=json.dumps({"architectures": [bare], "is_causal": False}))
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(TEXTS)]
    ours = torch.cat(w.forward(seqs))
    ref = bidirectional_reference(AutoModel, path)
    last = torch.stack([run_reference(ref, ids).last_hidden_state[0, -1] for ids in TEXTS])
    torch.testing.assert_close(ours, torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)
    causal = torch.stack([ref.__class__.from_pretrained(str(path)).eval()(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
                          for ids in TEXTS]).detach()
    assert not torch.allclose(torch.nn.functional.normalize(causal, dim=-1), ours, atol=1e-3)  # the mask matters


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_classifier_sees_both_ways(tiny_model, arch):
    from transformers import AutoModelForSequenceClassification

    path = tiny_model(arch, "seqcls", num_labels=2)
    w = worker(path, json_model_override_args='{"is_causal": false}')
    assert w.model.kind is ModelKind.ENCODER_CLASSIFIER
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="none")) for i, ids in enumerate(TEXTS)]
    ours = torch.cat(w.forward(seqs))
    ref = bidirectional_reference(AutoModelForSequenceClassification, path)
    expected = torch.stack([run_reference(ref, ids).logits[0] for ids in TEXTS])
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)


def test_causal_lm_and_mis_refuse_it(tiny_model):
    path = tiny_model("qwen3", "causal")
    with pytest.raises(ValueError, match="is_causal false .* Qwen3ForCausalLM reads next-token probabilities"):
        worker(path, json_model_override_args='{"is_causal": false}')
    with pytest.raises(ValueError, match="its attention is bidirectional"):
        worker(tiny_model("qwen3", "seqcls"), json_model_override_args='{"is_causal": false}',
               multi_item_scoring_delimiter=4)


def test_voyage_embedder_projects_every_token_then_means(tiny_model, tmp_path):
    """voyage-4-nano's layout (vLLM's VoyageQwen3BidirectionalEmbedModel): a Qwen3 checkpoint whose
    ``linear`` [E, H] projects every token of the bidirectional body; mean-pooled and normalised."""
    import shutil

    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    source = tiny_model("qwen3", "causal")
    path = tmp_path / "voyage"
    shutil.copytree(source, path)
    linear = torch.randn(32, 64, generator=torch.Generator().manual_seed(3)) * 0.2
    tensors = {k: v for k, v in load_file(str(path / "model.safetensors")).items() if k != "lm_head.weight"}
    save_file({**tensors, "linear.weight": linear}, str(path / "model.safetensors"))
    config = json.loads((path / "config.json").read_text())
    config.update(architectures=["VoyageQwen3BidirectionalEmbedModel"], num_labels=32)
    (path / "config.json").write_text(json.dumps(config))
    w = worker(path)
    assert w.model.kind is ModelKind.ENCODER_EMBEDDING and w.model_config.embedding_size == 32
    seqs = [ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default")) for i, ids in enumerate(TEXTS)]
    ours = torch.cat(w.forward(seqs))
    ref = bidirectional_reference(AutoModel, source)
    means = torch.stack([(run_reference(ref, ids).last_hidden_state[0] @ linear.T).mean(0) for ids in TEXTS])
    torch.testing.assert_close(ours, torch.nn.functional.normalize(means, dim=-1), atol=1e-5, rtol=0)
