"""FNet encoders (``FNetModel``, ``FNetForSequenceClassification``, ``FNetForTokenClassification``: google/fnet-base /
-large and their fine-tuned classifiers).

BERT's post-norm layers with the attention replaced by token mixing through a Fourier transform: each layer's
first sublayer is LayerNorm(x + Re(FFT2(x))), the 2-D transform over a sequence's tokens and the hidden dimension.
It mixes every token of a sequence with every other, padding included, and has no mask: a sequence is transformed
alone, at its own length (transformers on one unpadded input), so sequences of one length share one transform.
The embeddings are BERT's followed by ``projection``; the classifier reads BERT's tanh pooler on the first token.
The attention backends are not used. ``use_tpu_fourier_optimizations`` (DFT matrices of a fixed 512-token length,
which only serve inputs padded to it) is refused.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from multiscore.models.base import PooledClassifier, TokenClassifier
from multiscore.models.bert import BertEmbeddings, BertIntermediate, BertModel, BertPooler, DenseResidualNorm


class FNetEmbeddings(BertEmbeddings):
    def __init__(self, config) -> None:
        super().__init__(config)
        self.projection = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, input_ids, token_type_ids, positions) -> torch.Tensor:
        return self.projection(super().forward(input_ids, token_type_ids, positions))  # [T, H]


def fourier_mix(x: torch.Tensor, starts: list[int], lens: list[int]) -> torch.Tensor:
    """[T, H] -> Re(FFT2) of each sequence's rows [L, H] on its own, in float32 (torch's FFT takes no bf16)."""
    out = torch.empty_like(x)
    by_length: dict[int, list[int]] = {}
    for start, n in zip(starts, lens):
        by_length.setdefault(n, []).append(start)
    for n, group in by_length.items():
        rows = (torch.tensor(group, device=x.device)[:, None] + torch.arange(n, device=x.device)).flatten()  # [g·n]
        seqs = x.index_select(0, rows).view(len(group), n, -1).float()  # [g, n, H]
        out[rows] = torch.fft.fft2(seqs).real.flatten(0, 1).to(x.dtype)
    return out


class FNetFourier(nn.Module):
    """``fourier``: LayerNorm(x + Re(FFT2(x))) (its ``self`` has no weights; ``output.LayerNorm``)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.output = nn.Module()
        self.output.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, starts: list[int], lens: list[int]) -> torch.Tensor:
        return self.output.LayerNorm(x + fourier_mix(x, starts, lens))


class FNetLayer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.fourier = FNetFourier(config)
        self.intermediate = BertIntermediate(config)
        self.output = DenseResidualNorm(config.intermediate_size, config)

    def forward(self, x, starts, lens, keep_rows=None) -> torch.Tensor:
        x = self.fourier(x, starts, lens)
        if keep_rows is not None:  # every row was mixed in; only these go on
            x = x.index_select(0, keep_rows)
        return self.output(self.intermediate(x), x)


class FNetBackbone(nn.Module):
    """transformers' ``FNetModel``: ``embeddings.*`` (with ``projection``), ``encoder.layer.N.*``, ``pooler``."""

    def __init__(self, config, add_pooler: bool) -> None:
        super().__init__()
        self.config = config
        self.embeddings = FNetEmbeddings(config)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(FNetLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = BertPooler(config) if add_pooler else None

    def forward(self, batch, attention, keep_rows: Optional[torch.Tensor]) -> torch.Tensor:
        """The packed batch -> final hidden states at ``keep_rows`` [R, H] ([T, H] for None)."""
        max_positions = self.config.max_position_embeddings
        if max(batch.seq_lens, default=0) > max_positions:
            raise ValueError(f"a sequence of {max(batch.seq_lens)} tokens exceeds the {max_positions} positions of the model")
        x = self.embeddings(batch.input_ids, batch.token_type_ids, batch.positions)  # positions from 0
        starts, lens = [layout.start for layout in batch.layouts], batch.seq_lens
        last = len(self.encoder.layer) - 1
        for i, layer in enumerate(self.encoder.layer):
            x = layer(x, starts, lens, keep_rows if i == last else None)
        return x


class _FNet:
    @classmethod
    def adapt_config(cls, hf_config) -> None:
        if getattr(hf_config, "use_tpu_fourier_optimizations", False):
            raise ValueError("FNet with use_tpu_fourier_optimizations is not supported: its DFT matrices serve only "
                             "inputs padded to tpu_short_seq_length")
        # No attention: the worker's attention backend is built for one head and never called.
        hf_config.num_attention_heads = 1


class FNetModel(_FNet, BertModel):
    """The bare encoder as an embedding model (BERT's defaults: [CLS], normalised)."""

    weight_prefix_aliases = {"fnet.": "model.", "": "model."}
    packed_modules_mapping = {}
    backbone = FNetBackbone


class FNetForSequenceClassification(_FNet, PooledClassifier):
    """``fnet.*`` (with its pooler) + ``classifier``: logits = classifier(pooler(first token))."""

    backbone_name = "fnet"

    @staticmethod
    def make_backbone(config):
        return FNetBackbone(config, add_pooler=True)


class FNetForTokenClassification(_FNet, TokenClassifier):
    backbone_name = "fnet"

    @staticmethod
    def make_backbone(config):
        return FNetBackbone(config, add_pooler=False)
