"""Refusals, with what to do instead, for tasks the served model cannot do (ModelConfig.tasks)."""

from __future__ import annotations

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import ModelKind, Task

CONVERT_HINT = (
    "serve a reranker with one label, or convert a causal LM with --hf-overrides (or --json-model-override-args) "
    '\'{"classifier_from_token": ["no", "yes"], "method": "from_2_way_softmax"}\''
)


def require_task(cfg: ModelConfig, task: Task) -> None:
    if task not in cfg.tasks:
        raise ValueError(refusal(cfg, task))


def refusal(cfg: ModelConfig, task: Task) -> str:
    causal = cfg.kind is ModelKind.CAUSAL_LM
    if cfg.kind is ModelKind.LISTWISE_RERANKER:
        return (f"this model ({cfg.architecture}) is a listwise reranker: it scores documents against a query, "
                f"not {task.value}; use /rerank, /score or /v1/score")
    if cfg.kind.classifies_tokens and task is not Task.TOKEN_CLASSIFY:
        return (f"this model ({cfg.architecture}) is a token classifier: it gives class scores for every token, "
                f"not {task.value}; use /pooling with task 'token_classify'")
    if task in (Task.TOKEN_EMBED, Task.TOKEN_CLASSIFY):
        can = ", ".join(sorted(t.value for t in cfg.tasks)) or "SGLang's /v1/score only"
        return f"task {task.value!r} is not supported by this model ({cfg.architecture}); it can do: {can}"
    if task is Task.CLASSIFY:
        if cfg.kind.late_interaction:
            return "classify needs a classification model, and this one is a ColBERT (late-interaction) model: use /rerank or /score"
        if causal:
            return f"classify needs a classification model, and this one is a CausalLM; {CONVERT_HINT}"
        return "classify needs a classification model, and this one is an embedding model: use /v1/embeddings"
    if task is Task.EMBED:
        if cfg.kind.late_interaction:
            return (f"this model ({cfg.architecture}) is a ColBERT (late-interaction) model: it has a vector per token, "
                    "not one per text; use /pooling with task 'token_embed', or /rerank and /score for MaxSim scores")
        return (
            f"this model ({cfg.architecture}) has no embedding output: serve an embedding model "
            "(BertModel, XLMRobertaModel, Qwen3Model ..., or a causal checkpoint with --convert embed)"
        )
    if cfg.kind.sparse:
        return ("rerank and score are not served for a SPLADE model: its relevance is the dot product of sparse "
                "vectors, which /embed_sparse and /v1/embeddings return")
    if causal:
        return f"rerank and score need a classification model with one label, not a CausalLM; {CONVERT_HINT}"
    return f"rerank and score need a model with one label, and this one has num_labels={cfg.num_labels}; {CONVERT_HINT}"
