"""jina-embeddings-v3 (transformers' ``jina_embeddings_v3``) beyond the shared encoder matrices
(test_encoder_models.py, test_token_classification.py, test_sentence_transformers_dense.py): both
tensor layouts (the original code's, which transformers itself saves, and transformers' module
names), and the model card's pooling (mean, normalised) when no sentence-transformers files say."""

import torch
from safetensors.torch import load_file

from multiscore.configs.model_kind import ModelKind
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from remote_code_checkpoints import with_transformers_names
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
