"""A single-item request's items share one pass over their query (packed as MIS): the scores are
those of one sequence per item (fp32 <= 1e-5) for every decoder family, windows and soft-caps too."""

import pytest
import torch

from multiscore.messages import PoolingParams, TokenizedScoreRequest
from multiscore.scheduler.policy import SchedulePolicy
from worker_batches import mixed_inputs, worker


def _scores(w, query, items, labels, share_query):
    policy = SchedulePolicy(max_prefill_tokens=4096, pack_limit=4096, delimiter=None, share_query=share_query)
    req = TokenizedScoreRequest(rid="r", query_ids=query, items_ids=items, pooling=PoolingParams(label_token_ids=labels))
    policy.add_request(req)
    batch = policy.schedule()
    (done,) = policy.process_output(batch, w.forward(batch))
    return len(batch), done


@pytest.mark.parametrize("arch, head, kw", [
    ("qwen3", "causal", {}),
    ("llama", "seqcls", {}),
    ("gemma2", "causal", {"sliding_window": 4, "attn_logit_softcapping": 0.5}),
    ("gemma3", "seqcls", {}),
    ("mistral", "seqcls", {"sliding_window": 3}),
])
def test_shared_query_scores_equal_one_sequence_per_item(tiny_model, arch, head, kw):
    w = worker(tiny_model(arch, head, **kw))
    labels = [3, 9, 20] if head == "causal" else None
    query, items = mixed_inputs(seed=2, n_items=6)
    n_plain, plain = _scores(w, query, items, labels, share_query=False)
    n_shared, shared = _scores(w, query, items, labels, share_query=True)
    assert (n_plain, n_shared) == (6, 1)
    torch.testing.assert_close(torch.tensor(shared.outputs), torch.tensor(plain.outputs), atol=1e-5, rtol=0)
    assert shared.prompt_tokens == plain.prompt_tokens
