"""vLLM's offline API on multiscore: ``from multiscore import LLM, PoolingParams`` in place of
``from vllm import ...``, and a vLLM user's batch script runs unchanged:

    llm = LLM(model="BAAI/bge-reranker-v2-m3", max_model_len=512, enforce_eager=True)
    [o.outputs.score for o in llm.score("what is panda?", ["hi", "The giant panda ..."])]

``LLM(model, **kwargs)`` takes vLLM's engine arguments by their Python names (mapped as the command
line's are, entrypoints/vllm_args.py) and multiscore's own (``Engine``'s); it runs an ``Engine``.
``embed``, ``classify``, ``score``, ``encode`` and ``reward`` answer what multiscore's /v1/embeddings,
/classify, /score and /pooling answer for the same inputs, in vLLM's output classes
(entrypoints/llm_outputs.py). Prompts: a text, token ids, ``{"prompt": ...}`` or
``{"prompt_token_ids": [...]}``, or a list of them.
"""

from __future__ import annotations

from typing import Optional

import torch

from multiscore.configs.model_kind import Task
from multiscore.entrypoints.engine import Engine
from multiscore.entrypoints.llm_outputs import (
    ClassificationOutput,
    ClassificationRequestOutput,
    EmbeddingOutput,
    EmbeddingRequestOutput,
    PoolingOutput,
    PoolingParams,
    PoolingRequestOutput,
    ScoringOutput,
    ScoringRequestOutput,
)
from multiscore.entrypoints.serving.tasks import refusal
from multiscore.entrypoints.vllm_args import translate_llm_kwargs
from multiscore.tokenizer.tokenizer_manager import REQUEST_ADAPTER

# vLLM's offline wording for a task the model does not do, put before multiscore's reason.
_NOT_SUPPORTED = {
    Task.EMBED: "Embedding API is not supported by this model.",
    Task.TOKEN_EMBED: "Embedding API is not supported by this model.",
    Task.CLASSIFY: "Classification API is not supported by this model.",
    Task.TOKEN_CLASSIFY: "Classification API is not supported by this model.",
    Task.SCORE: "Scoring API is only enabled for num_labels == 1.",
}
_TASK_NAMES = {t.value for t in Task}


class LLM:
    def __init__(self, model: str, **kwargs) -> None:
        self._engine = Engine(model, **translate_llm_kwargs(kwargs))
        self._runtime = self._engine._live
        self._counter = 0

    @property
    def model_config(self):
        """The served model's config (``embedding_size``, ``max_model_len``, ``architecture`` ...)."""
        return self._runtime.model_config

    def get_tokenizer(self):
        return self._engine.tokenizer_manager.tokenizer

    def embed(self, prompts, *, truncate_prompt_tokens: Optional[int] = None, use_tqdm=True,
              pooling_params: Optional[PoolingParams] = None, lora_request=None, tokenization_kwargs=None
              ) -> list[EmbeddingRequestOutput]:
        """One embedding per prompt, as /v1/embeddings answers it."""
        params, adapter = self._params(pooling_params, lora_request)
        self._require(Task.EMBED)

        def run(inputs):
            result = self._run(adapter, self._runtime.embed.embed(
                inputs, dimensions=params.dimensions, use_activation=params.activation,
                truncate_prompt_tokens=_first(truncate_prompt_tokens, params.truncate_prompt_tokens)))
            return list(zip(result.embeddings, result.token_ids))

        return [EmbeddingRequestOutput(self._id(), EmbeddingOutput(list(v)), ids) for v, ids in _by_kind(prompts, run)]

    def classify(self, prompts, *, truncate_prompt_tokens: Optional[int] = None, use_tqdm=True,
                 pooling_params: Optional[PoolingParams] = None, lora_request=None, tokenization_kwargs=None
                 ) -> list[ClassificationRequestOutput]:
        """Class probabilities per prompt (raw logits with ``use_activation=False``), as /classify."""
        params, adapter = self._params(pooling_params, lora_request)
        self._require(Task.CLASSIFY)

        def run(inputs):
            result = self._run(adapter, self._runtime.classify.classify(
                inputs, use_activation=params.activation,
                truncate_prompt_tokens=_first(truncate_prompt_tokens, params.truncate_prompt_tokens)))
            return [(c.probs, ids) for c, ids in zip(result.data, result.token_ids)]

        return [ClassificationRequestOutput(self._id(), ClassificationOutput(list(p)), ids)
                for p, ids in _by_kind(prompts, run)]

    def score(self, data_1, data_2, *, truncate_prompt_tokens: Optional[int] = None, use_tqdm=True,
              pooling_params: Optional[PoolingParams] = None, lora_request=None, chat_template=None,
              tokenization_kwargs=None) -> list[ScoringRequestOutput]:
        """Relevance of each pair, 1:1, 1:N or N:N, as vLLM's /score: a cross-encoder's score, an
        embedding model's cosine similarity, a ColBERT model's MaxSim."""
        params, adapter = self._params(pooling_params, lora_request)
        if chat_template is not None:
            raise ValueError("chat_template: give the score template when the LLM starts (LLM(..., chat_template=...))")
        unknown = set(params.extra_kwargs) - {"max_tokens_per_doc"}
        if unknown:
            raise ValueError(f"PoolingParams.extra_kwargs: unknown key(s) {', '.join(sorted(unknown))} (score takes "
                             "max_tokens_per_doc)")
        self._require(Task.SCORE)
        queries = [data_1] if isinstance(data_1, str) else list(data_1)
        documents = [data_2] if isinstance(data_2, str) else list(data_2)
        result = self._run(adapter, self._runtime.scores.score_pairs(
            queries, documents, use_activation=params.activation,
            truncate_prompt_tokens=_first(truncate_prompt_tokens, params.truncate_prompt_tokens),
            max_tokens_per_doc=params.extra_kwargs.get("max_tokens_per_doc")))
        return [ScoringRequestOutput(self._id(), ScoringOutput(s), ids) for s, ids in zip(result.scores, result.token_ids)]

    def encode(self, prompts, pooling_params: Optional[PoolingParams] = None, *, pooling_task: Optional[str] = None,
               truncate_prompt_tokens: Optional[int] = None, use_tqdm=True, lora_request=None, tokenization_kwargs=None
               ) -> list[PoolingRequestOutput]:
        """The model's output for ``pooling_task`` (embed, classify, score, token_embed, token_classify;
        by default the model's own) per prompt, as /pooling, as tensors."""
        params, adapter = self._params(pooling_params, lora_request)
        cfg = self.model_config
        if pooling_task in _TASK_NAMES and pooling_task not in cfg.pooling_tasks:
            raise ValueError(f"{_NOT_SUPPORTED[Task(pooling_task)]} {refusal(cfg, Task(pooling_task))}")

        def run(inputs):
            result = self._run(adapter, self._runtime.embed.pool(
                inputs, task=pooling_task, dimensions=params.dimensions, use_activation=params.activation,
                truncate_prompt_tokens=_first(truncate_prompt_tokens, params.truncate_prompt_tokens)))
            return list(zip(result.data, result.token_ids))

        return [PoolingRequestOutput(self._id(), PoolingOutput(torch.tensor(d)), ids) for d, ids in _by_kind(prompts, run)]

    def reward(self, prompts, **options) -> list[PoolingRequestOutput]:
        """A reward model's score for every token: ``encode`` with task token_classify."""
        return self.encode(prompts, pooling_task="token_classify", **options)

    def shutdown(self) -> None:
        self._engine.shutdown()

    def __enter__(self) -> "LLM":
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def _params(self, params: Optional[PoolingParams], lora_request) -> tuple[PoolingParams, Optional[int]]:
        """-> (the call's pooling options, the LoRA adapter it runs with: ``lora_request``'s, loaded on
        first use, or None)."""
        return params or PoolingParams(), None if lora_request is None else self._adapter(lora_request)

    def _adapter(self, lora_request) -> int:
        tm = self._engine.tokenizer_manager
        name, path = getattr(lora_request, "lora_name", None), getattr(lora_request, "lora_path", None)
        if not isinstance(name, str) or not name:
            raise ValueError("lora_request: give a LoRARequest(lora_name, lora_int_id, lora_path)")
        if name not in tm.adapter_keys:
            if not self._engine.server_args.enable_lora:
                raise ValueError(f"lora_request {name!r}: start the LLM with enable_lora=True to load adapters "
                                 "(or name one of its lora_modules)")
            if not path:
                raise ValueError(f"lora_request {name!r} is not loaded and gives no lora_path")
            self._engine._run(tm.load_lora_adapter(name, path))
        return tm.adapter_keys[name]

    def _run(self, adapter: Optional[int], coro):
        """Engine._run(coro), its requests run with LoRA adapter ``adapter`` (None: the base model)."""
        async def with_adapter():
            REQUEST_ADAPTER.set(adapter)
            return await coro

        return self._engine._run(with_adapter())

    def _require(self, task: Task) -> None:
        if task not in self.model_config.tasks:
            raise ValueError(f"{_NOT_SUPPORTED[task]} {refusal(self.model_config, task)}")

    def _id(self) -> str:
        self._counter += 1
        return str(self._counter - 1)


def _first(a, b):
    return a if a is not None else b


def _prompt(prompt):
    """One vLLM prompt -> a text or a token-id list."""
    if isinstance(prompt, dict):
        if "prompt_token_ids" in prompt:
            return list(prompt["prompt_token_ids"])
        if "prompt" in prompt:
            return prompt["prompt"]
        raise ValueError("a prompt dict needs 'prompt' (a text) or 'prompt_token_ids'")
    if isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(t, int) for t in prompt)):
        return prompt
    raise ValueError("a prompt must be a text, token ids, or a dict with 'prompt' or 'prompt_token_ids', not "
                     f"{type(prompt).__name__}")


def _by_kind(prompts, run) -> list:
    """``run(inputs)`` -> one value per input, once for the texts and once for the token-id lists (the
    serving layer takes one kind per call); the values come back in the prompts' order."""
    one_token_prompt = isinstance(prompts, list) and prompts and all(isinstance(t, int) for t in prompts)
    if isinstance(prompts, (str, dict)) or one_token_prompt:
        prompts = [prompts]
    items = [_prompt(p) for p in prompts]
    if not items:
        raise ValueError("no prompts given")
    out: list = [None] * len(items)
    for indices in ([i for i, x in enumerate(items) if isinstance(x, str)],
                    [i for i, x in enumerate(items) if not isinstance(x, str)]):
        if indices:
            for i, value in zip(indices, run([items[i] for i in indices])):
                out[i] = value
    return out
