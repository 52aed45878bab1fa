"""ModernBERT's decoder (the Ettin decoders) against transformers: ModernBERT's layers made causal
(a global layer, then two local ones that see their last 3 positions, each with its own rotary
base), single-item and MIS; the LM read at label tokens through its prediction head and tied
decoder, the classifier at the last token, and the bare model as a last-token embedder."""

import json
import shutil

import pytest
import torch

from hf_reference import hf_scores
from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_the_heads_equal_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("modernbert_decoder", head)
    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=1)
    single, mis = score_both_ways(worker(path), query, items, labels, apply_softmax=head == "causal")
    ref = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=head == "causal"))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_bare_model_embeds_its_last_token(tiny_model, tmp_path):
    from transformers import ModernBertDecoderModel

    path = tmp_path / "bare"
    shutil.copytree(tiny_model("modernbert_decoder", "causal"), path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "architectures": ["ModernBertDecoderModel"]}))
    texts = [[11, 12, 13, 14, 15, 16, 17], [20, 21]]
    w = worker(path)
    got = torch.cat(w.forward([ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default"))
                               for i, ids in enumerate(texts)]))
    hf = ModernBertDecoderModel.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        last = torch.stack([hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in texts])
    torch.testing.assert_close(got, torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)
