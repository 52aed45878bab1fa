"""ModernBERT's decoder (the Ettin decoders) against transformers: ModernBERT's layers made causal
(a global layer, then two local ones that see their last 3 positions, each with its own rotary
base), single-item and MIS; the LM read at label tokens through its prediction head and tied
decoder, the classifier at the last token, and the bare model as a last-token embedder."""

import torch

from multiscore.messages import PoolingParams
from multiscore.model_executor.forward_batch import ScoreSequence
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


def _hf(path, cls_name):
    import transformers

    return getattr(transformers, cls_name).from_pretrained(str(path), dtype=torch.float32).eval()


def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("modernbert_decoder", "causal")
    query, items = mixed_inputs(seed=1)
    single, mis = score_both_ways(worker(path), query, items, LABELS, apply_softmax=True)
    hf = _hf(path, "ModernBertDecoderForCausalLM")
    with torch.no_grad():
        logits = torch.stack([hf(input_ids=torch.tensor([query + item])).logits[0, -1] for item in items])
    ref = torch.softmax(logits[:, LABELS], -1)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_classifier_equals_transformers(tiny_model):
    path = tiny_model("modernbert_decoder", "seqcls")
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(path), query, items, None)
    hf = _hf(path, "ModernBertDecoderForSequenceClassification")
    with torch.no_grad():
        ref = torch.cat([hf(input_ids=torch.tensor([query + item])).logits for item in items])
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_bare_model_embeds_its_last_token(tiny_model, tmp_path):
    import json
    import shutil

    path = tmp_path / "bare"
    shutil.copytree(tiny_model("modernbert_decoder", "causal"), path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "architectures": ["ModernBertDecoderModel"]}))
    texts = [[11, 12, 13, 14, 15, 16, 17], [20, 21]]
    w = worker(path)
    got = torch.cat(w.forward([ScoreSequence(str(i), ids, 0, 1, PoolingParams(activation="default"))
                               for i, ids in enumerate(texts)]))
    hf = _hf(path, "ModernBertDecoderModel")
    with torch.no_grad():
        last = torch.stack([hf(input_ids=torch.tensor([ids])).last_hidden_state[0, -1] for ids in texts])
    torch.testing.assert_close(got, torch.nn.functional.normalize(last, dim=-1), atol=1e-5, rtol=0)
