"""GritLM (GritLM/GritLM-7B; vLLM's ``GritLM`` architecture, as parasail-ai/GritLM-7B-vllm
names it): Mistral's block with every token seeing every other and no sliding window (vLLM's choice for
embedding), and the mean of the text's tokens only, normalised: the instruction before
``<|embed|>\\n`` takes no part (tokenizer/gritlm_markers.py). A checkpoint published as
``MistralForCausalLM`` (GritLM/GritLM-7B) is served so with ``--hf-overrides '{"architectures": ["GritLM"]}'``."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from multiscore.configs.model_kind import ModelKind
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import Pooler, PoolingMetadata, sequence_rows
from multiscore.models.decoder import DecoderForEmbedding
from multiscore.models.mistral import mistral_options
from multiscore.tokenizer.gritlm_markers import GritLMMarkers


class InstructionFreeMean:
    """A pooling method (as PoolingMethod): each sequence's mean over its tokens after the instruction."""

    def __init__(self, markers: GritLMMarkers) -> None:
        self.markers = markers

    def rows(self, meta: PoolingMetadata) -> None:
        return None  # every row

    def reduce(self, hidden: torch.Tensor, meta: PoolingMetadata) -> torch.Tensor:
        """hidden [T, H] -> [B, H] float32. The API refuses a text with no token after its instruction; the
        last token is kept all the same, so that no mean is ever over nothing."""
        ids = meta.input_ids.tolist()
        means = []
        for _, rows in sequence_rows(meta):
            skip = min(self.markers.instruction_length(ids[rows]), rows.stop - rows.start - 1)
            means.append(hidden[rows.start + skip : rows.stop].float().mean(0))
        return torch.stack(means)


class GritLM(DecoderForEmbedding):
    kind = ModelKind.ENCODER_EMBEDDING
    options_for = staticmethod(mistral_options)

    @classmethod
    def adapt_config(cls, hf_config) -> None:
        hf_config.sliding_window = None

    @classmethod
    def adapt_to_tokenizer(cls, hf_config, tokenizer: Callable[[], object]) -> None:
        hf_config.gritlm_markers = GritLMMarkers.of(tokenizer())

    @classmethod
    def default_pooling(cls, hf_config) -> str:
        return "mean"

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        if pooling is None or pooling.mode == "mean":  # GritLM's mean (--pooler-config pooling_type picks another)
            self.pooler = Pooler(InstructionFreeMean(config.gritlm_markers), self.pooler.head)
