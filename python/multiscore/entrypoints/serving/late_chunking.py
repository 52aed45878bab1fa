"""Jina's ``late_chunking``: the inputs are consecutive chunks of one document. They are embedded as
one sequence, so every token's vector is computed in the context of all the chunks, and each chunk's
embedding is the mean of its own tokens' vectors (Günther et al., "Late Chunking", 2024).

The sequence is the model's special tokens around the task's instruction (if any) and each chunk's
own tokens in order (each chunk tokenized alone, as a text joined to the others by a space is); the
special tokens and the instruction belong to no chunk. Each mean is then cut to ``dimensions`` and
normalised as a plain embedding would be.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from multiscore.configs.model_kind import Task
from multiscore.entrypoints.serving.embed import EmbedServing
from multiscore.entrypoints.serving.results import EmbedResult
from multiscore.entrypoints.serving.tasks import require_task
from multiscore.messages import PoolingParams
from multiscore.tokenizer.truncation import special_token_frame


async def late_chunk_embeddings(
    embed: EmbedServing, inputs, *, dimensions: Optional[int] = None, use_activation: Optional[bool] = None,
    normalize: Optional[bool] = None, truncate_prompt_tokens: Optional[int] = None,
    add_special_tokens: Optional[bool] = None, task: Optional[str] = None,
) -> EmbedResult:
    cfg = embed.model_config
    require_task(cfg, Task.EMBED)
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("late_chunking applies to texts: give the document's chunks as a list of strings")
    if cfg.pooling is not None and cfg.pooling.dense:
        raise ValueError("late_chunking: this model's sentence-transformers Dense layers project a pooled text, "
                         "not the mean of a chunk's token vectors")
    if truncate_prompt_tokens is not None:
        raise ValueError("late_chunking embeds the chunks as one sequence: there is no input to truncate; send "
                         "fewer chunks when they exceed the context")
    if add_special_tokens is False:
        raise ValueError("late_chunking frames the chunks with the model's special tokens; leave add_special_tokens unset")
    if dimensions is None:
        dimensions = cfg.pooler.dimensions
    if dimensions is not None:
        cfg.check_dimensions(dimensions)
    adapter, instruction = cfg.task_adapter(task) if task is not None else (None, "")
    tokenizer = embed.tm.tokenizer
    chunks = await embed.tm.tokenize_inputs(texts, add_special_tokens=False, what="embed")  # each chunk's own tokens
    head, tail = special_token_frame(tokenizer)
    lead = head + (tokenizer(instruction, add_special_tokens=False)["input_ids"] if instruction else [])
    ids = lead + [t for chunk in chunks for t in chunk] + tail
    if len(ids) > cfg.context_length:
        raise ValueError(f"late_chunking: the {len(texts)} chunks make {len(ids)} tokens with the special tokens, more "
                         f"than the context length of {cfg.context_length}; send fewer chunks")
    pooling = PoolingParams(activation="none", per_token=True, adapter=adapter)
    out = await embed.tm.run_request(embed.tm.build_request([], [ids], pooling))
    vectors = np.asarray(out.outputs[0], dtype=np.float64)  # [len(ids), H], the token vectors as computed
    bounds = np.cumsum([len(lead)] + [len(c) for c in chunks])  # chunk i: rows bounds[i]..bounds[i+1]
    means = np.stack([vectors[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])[:, :dimensions]
    activation = "none" if cfg.pooler.use_activation_for(use_activation) is False else "default"
    if normalize is not None:
        activation = "l2" if normalize else "none"
    if activation == "l2" or (activation == "default" and (cfg.pooling is None or cfg.pooling.normalize)):
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return EmbedResult(means.tolist(), out.prompt_tokens, chunks)
