"""What Cohere's embed API means (``POST /v2/embed``, ``/v1/embed``), on top of EmbedServing.

- ``input_type`` picks one of the prompts saved with the model (config_sentence_transformers.json)
  in the order sentence-transformers' ``encode_query`` / ``encode_document`` look for them: a
  prompt of exactly that name first (nomic-embed's ``search_query``), else ``search_query`` ->
  ``query`` and ``search_document`` -> ``document``, ``passage`` or ``corpus`` (e5's ``passage``:
  sentence-transformers >= 6 adds an empty ``document`` prompt to every model, which its
  ``encode_document`` then picks first), ``classification`` / ``clustering`` -> that name in any
  case (EmbeddingGemma's ``Classification``). A Cohere type the model has no prompt for embeds as plain
  ``encode`` would (the default prompt, if any), so Cohere's SDK, which always sends one, works on
  every model; any other name must be one of the model's prompts. A model with task adapters
  (jina-embeddings-v3) takes the task that means the same instead (``COHERE_TASKS``: its instruction
  and adapter, as Jina's ``task``).
- ``truncate``: END (the default) drops the end of an input longer than ``max_tokens`` (else the
  context length), START its start, NONE refuses it.
- ``embedding_types``: ``float``; ``base64`` (each vector's little-endian float32 bytes);
  ``binary`` / ``ubinary``: one sign bit per value (1 where > 0), packed 8 per byte, as
  sentence-transformers' ``quantize_embeddings`` packs them (``binary`` offset by -128 into int8).
  ``int8`` / ``uint8`` are refused: they need per-dimension ranges calibrated for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from multiscore.configs.model_config import ModelConfig
from multiscore.entrypoints.encoding import encode_vector
from multiscore.entrypoints.serving.embed import EmbedServing

# Cohere's text input types -> the prompt names that mean the same, in sentence-transformers' order.
COHERE_INPUT_TYPES = {
    "search_query": ("query",),
    "search_document": ("document", "passage", "corpus"),
    "classification": (),
    "clustering": (),
}
SERVED_EMBEDDING_TYPES = ("float", "base64", "binary", "ubinary")
# Cohere's input types -> the task of a model with task adapters (jina-embeddings-v3's) that means the same.
COHERE_TASKS = {"search_query": "retrieval.query", "search_document": "retrieval.passage",
                "classification": "classification", "clustering": "separation"}


@dataclass
class CohereEmbedding:
    embeddings: dict  # embedding type -> one entry per text
    input_tokens: int


class CohereEmbedServing:
    def __init__(self, embed: EmbedServing, model_config: ModelConfig) -> None:
        self.embedder, self.model_config = embed, model_config

    async def embed(
        self, texts: list[str], *, input_type: Optional[str] = None, embedding_types: Sequence[str] = ("float",),
        truncate: Optional[str] = None, max_tokens: Optional[int] = None, output_dimension: Optional[int] = None,
    ) -> CohereEmbedding:
        refused = [t for t in embedding_types if t not in SERVED_EMBEDDING_TYPES]
        if refused:
            raise ValueError(
                f"embedding_types {', '.join(map(repr, refused))}: int8 and uint8 need quantization ranges calibrated "
                f"for the model, which a served model does not have; this server gives {', '.join(SERVED_EMBEDDING_TYPES)}"
            )
        if max_tokens is not None and max_tokens < 1:
            raise ValueError("'max_tokens' must be a positive number of tokens")
        context = self.model_config.context_length
        cut = None if truncate == "NONE" else min(max_tokens or context, context)
        task = COHERE_TASKS.get(input_type)
        if task not in self.model_config.task_names:
            task = None
        result = await self.embedder.embed(
            texts, dimensions=output_dimension, prompt_name=None if task else self.prompt_name(input_type), task=task,
            truncate_prompt_tokens=cut, keep_start=truncate != "START",
            max_input_tokens=max_tokens if truncate == "NONE" else None,
        )
        return CohereEmbedding(typed_embeddings(result.embeddings, embedding_types), result.prompt_tokens)

    def prompt_name(self, input_type: Optional[str]) -> Optional[str]:
        """The model's prompt for Cohere's ``input_type`` (None: the model's default prompt, if any)."""
        if input_type is None:
            return None
        pooling = self.model_config.pooling
        prompts = [name for name, _ in pooling.prompts] if pooling is not None else []
        if input_type in prompts:
            return input_type
        if input_type == "image":
            raise ValueError("input_type 'image': this server serves text models")
        if input_type not in COHERE_INPUT_TYPES:
            supported = ", ".join(sorted(set(prompts) | set(COHERE_INPUT_TYPES)))
            raise ValueError(f"Unsupported input_type {input_type!r}. Supported values: {supported}")
        if COHERE_INPUT_TYPES[input_type]:
            return next((name for name in COHERE_INPUT_TYPES[input_type] if name in prompts), None)
        return next((name for name in prompts if name.lower() == input_type), None)


def typed_embeddings(vectors: list, embedding_types: Sequence[str]) -> dict:
    """Cohere's ``embeddings`` object: every asked type, one entry per vector ([N, D] floats in)."""
    out, packed = {}, None
    for kind in dict.fromkeys(embedding_types):
        if kind == "float":
            out[kind] = vectors
        elif kind == "base64":
            out[kind] = [encode_vector(v, "base64", "float32", "little") for v in vectors]  # OpenAI's base64
        else:  # binary / ubinary: [N, ceil(D / 8)] bytes of sign bits, packed once for both
            if packed is None:
                packed = np.packbits(np.asarray(vectors, dtype=np.float32) > 0, axis=-1).astype(np.int16)
            out[kind] = (packed - 128 if kind == "binary" else packed).tolist()
    return out
