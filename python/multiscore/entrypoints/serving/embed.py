"""What OpenAI's /v1/embeddings and vLLM's /pooling mean: one pooled vector (or one per token) per input."""

from __future__ import annotations

from typing import Optional

import numpy as np

from multiscore.configs.model_config import ModelConfig
from multiscore.configs.model_kind import Task
from multiscore.entrypoints.serving.classify import ClassifyServing
from multiscore.entrypoints.serving.results import EmbedResult, PoolingResult
from multiscore.entrypoints.serving.tasks import require_task
from multiscore.messages import PoolingParams
from multiscore.tokenizer.inputs import resolve_truncation
from multiscore.tokenizer.tokenizer_manager import TokenizerManager

POOLING_TASKS = ("embed", "classify", "score", "token_embed", "token_classify", "plugin")  # vLLM's


class EmbedServing:
    def __init__(self, tm: TokenizerManager, model_config: ModelConfig, classify: ClassifyServing, scorer=None) -> None:
        self.tm = tm
        self.model_config = model_config
        self.classify = classify
        self.scorer = scorer  # a ColBERT model's LateInteractionScorer tokenizes input_type queries and documents

    async def embed(
        self, inputs, *, dimensions: Optional[int] = None, use_activation: Optional[bool] = None,
        normalize: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None, keep_start: bool = False,
        add_special_tokens: Optional[bool] = None, per_token: bool = False, prompt_name: Optional[str] = None,
        max_input_tokens: Optional[int] = None, task: Optional[str] = None,
    ) -> EmbedResult:
        """One embedding per input (``per_token``: one per token); ``dimensions`` cuts a Matryoshka
        embedding; ``use_activation: false`` skips the model's normalisation; ``normalize`` (TEI)
        overrides it either way; ``prompt_name`` (TEI) puts that sentence-transformers prompt before
        each text, and without it the model's default prompt (if any) goes there; an input longer than
        ``max_input_tokens`` is refused (Cohere's ``truncate: NONE`` with ``max_tokens``); ``task``
        (Jina's: jina-embeddings-v3's LoRA tasks) puts the task's instruction before each text, in
        place of any prompt, and runs them with the task's adapter."""
        cfg = self.model_config
        require_task(cfg, Task.TOKEN_EMBED if per_token else Task.EMBED)
        if dimensions is None and not per_token:
            dimensions = cfg.pooler.dimensions  # --pooler-config's default
        if dimensions is not None:
            cfg.check_dimensions(dimensions)
        adapter = None
        if task is None:
            inputs = self.with_prompt(inputs, prompt_name)
        else:
            if prompt_name is not None:
                raise ValueError("give 'task' or 'prompt_name', not both: a task puts its own instruction before each text")
            adapter, instruction = cfg.task_adapter(task)
            inputs = with_instruction(inputs, instruction, task)
        ids = await self.tm.tokenize_inputs(
            inputs, add_special_tokens=add_special_tokens, truncate_prompt_tokens=truncate_prompt_tokens,
            keep_start=keep_start, what="embed",
        )
        if max_input_tokens is not None:
            for i, x in enumerate(ids):
                if len(x) > max_input_tokens:
                    raise ValueError(f"input {i} has {len(x)} tokens, more than max_tokens={max_input_tokens} with "
                                     "truncate NONE; set truncate to END or START to cut it")
        if not per_token:
            check_text_after_instruction(cfg, ids)
        activation = "none" if cfg.pooler.use_activation_for(use_activation) is False else "default"
        if normalize is not None:
            activation = "l2" if normalize else "none"
        if cfg.pooler.chunked and not per_token and any(len(x) > cfg.context_length for x in ids):
            return await self._embed_in_chunks(ids, activation, dimensions, adapter)
        pooling = PoolingParams(activation=activation, dimensions=dimensions, per_token=per_token, adapter=adapter)
        out = await self.tm.run_request(self.tm.build_request([], ids, pooling))
        return EmbedResult(out.outputs, out.prompt_tokens, ids)

    async def _embed_in_chunks(self, ids: list[list[int]], activation: str, dimensions: Optional[int],
                               adapter: Optional[int] = None) -> EmbedResult:
        """vLLM's chunked processing (--pooler-config enable_chunked_processing): an input longer than
        the context is split into context-long runs of its tokens (its special tokens stay where they
        are: [CLS] in the first chunk, [SEP] in the last), each embedded as the model embeds a text
        (its pooling, its Dense layers), and the input's embedding is their mean weighted by token
        count, then cut to ``dimensions`` and normalised as the model (or the request) says."""
        cfg = self.model_config
        limit, length = cfg.pooler.max_embed_len, cfg.context_length
        chunks, owners = [], []
        for i, x in enumerate(ids):
            if limit is not None and len(x) > limit:
                raise ValueError(f"input {i} has {len(x)} tokens, more than the maximum embedding input length of {limit} "
                                 "tokens (--pooler-config max_embed_len). Please reduce the length of the input.")
            for start in range(0, len(x), length):
                chunks.append(x[start : start + length])
                owners.append(i)
        out = await self.tm.run_request(self.tm.build_request([], chunks, PoolingParams(activation="none", adapter=adapter)))
        vectors = np.asarray(out.outputs, dtype=np.float64)  # [num_chunks, width], raw (not normalised)
        weights = np.asarray([len(c) for c in chunks], dtype=np.float64)
        sums = np.zeros((len(ids), vectors.shape[1]))
        np.add.at(sums, owners, vectors * weights[:, None])
        means = (sums / np.asarray([len(x) for x in ids], dtype=np.float64)[:, None])[:, :dimensions]
        if activation == "l2" or (activation == "default" and cfg.pooling.normalize):
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return EmbedResult(means.tolist(), out.prompt_tokens, ids)

    async def pool(
        self, inputs, *, task: Optional[str] = None, dimensions: Optional[int] = None,
        use_activation: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
        add_special_tokens: Optional[bool] = None, input_type: Optional[str] = None,
    ) -> PoolingResult:
        """vLLM's /pooling: ``task`` embed / token_embed (embedding models), classify / token_classify /
        score (classifiers; score: the one-label relevance score); by default the model's own output.
        ``input_type`` (query / document, ColBERT models): each text tokenized and its vectors kept as
        the checkpoint's library encodes a query or a document for an index."""
        cfg = self.model_config
        if input_type is not None:
            return await self._pool_colbert(inputs, input_type, task, dimensions, use_activation,
                                            truncate_prompt_tokens, add_special_tokens)
        if task is None:  # --pooler-config's task, else the model's own output (ColBERT: its token vectors ...)
            task = cfg.pooler.task or cfg.default_pooling_task or (
                "embed" if Task.EMBED in cfg.tasks else "token_embed" if cfg.kind.late_interaction
                else "token_classify" if cfg.kind.classifies_tokens else "classify")
        can = cfg.pooling_tasks
        if task not in can:  # vLLM's wording first
            why = f" (vLLM's tasks are {', '.join(POOLING_TASKS)})" if task not in POOLING_TASKS else ""
            if task == "plugin":
                why = ". No IOProcessor plugin installed"  # multiscore has no IO-processor plugins
            raise ValueError(f"Unsupported task: {task!r}{why}. This model ({cfg.architecture}) supports: {', '.join(can)}")
        options = dict(truncate_prompt_tokens=truncate_prompt_tokens, add_special_tokens=add_special_tokens)
        if task in ("embed", "token_embed"):
            result = await self.embed(
                inputs, dimensions=dimensions, use_activation=use_activation, per_token=task == "token_embed", **options
            )
            return PoolingResult(result.embeddings, result.prompt_tokens, result.token_ids)
        if dimensions is not None:
            raise ValueError(f"'dimensions' applies to embedding models; task {task!r} gives class scores")
        per_token = task == "token_classify"
        require_task(self.model_config, Task.TOKEN_CLASSIFY if per_token else Task.CLASSIFY)
        ids = await self.tm.tokenize_inputs(inputs, what=task, **options)
        use_activation = cfg.pooler.use_activation_for(use_activation)
        pooling = PoolingParams(activation="none" if use_activation is False else "default", per_token=per_token,
                                token_head="classify")
        out = await self.tm.run_request(self.tm.build_request([], ids, pooling))
        return PoolingResult(out.outputs, out.prompt_tokens, ids)

    async def _pool_colbert(self, inputs, input_type, task, dimensions, use_activation, truncate_prompt_tokens,
                            add_special_tokens) -> PoolingResult:
        """vLLM's ``input_type`` on /pooling, with its wording for the refusals."""
        if input_type not in ("query", "document"):
            raise ValueError("input_type must be 'query' or 'document'")
        if not self.model_config.kind.late_interaction:
            raise ValueError("input_type is only supported for ColBERT models.")
        if task not in (None, "token_embed"):
            raise ValueError("input_type is only supported with task 'token_embed'.")
        if dimensions is not None:
            raise ValueError("'dimensions' does not apply to a ColBERT model: its token vectors keep their size")
        if add_special_tokens is False:
            raise ValueError("add_special_tokens: input_type tokenizes as the ColBERT checkpoint does, with its "
                             "special tokens")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("input_type applies to text inputs (a string or a list of strings): it tokenizes them as "
                             "the ColBERT checkpoint does, with its markers and query expansion")
        keep = resolve_truncation(truncate_prompt_tokens, self.model_config.context_length)
        use_activation = self.model_config.pooler.use_activation_for(use_activation)
        normalise = use_activation is not False
        vectors, tokens, ids = await self.scorer.encode(texts, input_type, keep=keep, normalise=normalise)
        return PoolingResult(vectors, tokens, ids)

    def with_prompt(self, inputs, prompt_name: Optional[str]):
        """Texts with the sentence-transformers prompt put before them: ``prompt_name``'s, else the
        model's default prompt (if any). Also what TEI's /tokenize shows."""
        pooling = self.model_config.pooling
        if pooling is None:
            if prompt_name is not None:
                raise ValueError("prompt_name: this model has no sentence-transformers prompts")
            return inputs
        prompt = pooling.prompt_text(prompt_name)
        if not prompt:
            return inputs
        texts = prefixed(inputs, prompt)
        if texts is not None:
            return texts
        if prompt_name is not None:
            raise ValueError("prompt_name applies to text inputs, not to token ids")
        return inputs  # token ids are taken as given, as sentence-transformers would not see them


def check_text_after_instruction(cfg: ModelConfig, ids: list[list[int]]) -> None:
    """GritLM averages the tokens after its instruction (``...<|embed|>\\n``): an input must have some."""
    markers = getattr(cfg.hf_config, "gritlm_markers", None)
    if markers is None or cfg.pooling.mode != "mean":
        return
    for i, x in enumerate(ids):
        if markers.instruction_length(x) >= len(x):
            raise ValueError(f"input {i} has no text after its instruction (GritLM embeds what follows <|embed|>\\n): "
                             "there is nothing to embed")


def with_instruction(inputs, instruction: str, task: str):
    """Texts with a task's instruction put before them (token ids only where the instruction is empty)."""
    if not instruction:
        return inputs
    texts = prefixed(inputs, instruction)
    if texts is not None:
        return texts
    raise ValueError(f"task {task!r} puts the instruction {instruction!r} before each text: give texts, not token ids or chat messages")


def prefixed(inputs, prefix: str):
    """A text, or a list of texts, with ``prefix`` before each; None for other inputs (token ids, chat)."""
    if isinstance(inputs, str):
        return prefix + inputs
    if isinstance(inputs, list) and all(isinstance(t, str) for t in inputs):
        return [prefix + t for t in inputs]
    return None
