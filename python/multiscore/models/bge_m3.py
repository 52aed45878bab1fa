"""BGE-M3 (BAAI/bge-m3): one XLM-R encoder, three outputs, as FlagEmbedding's BGEM3FlagModel computes
them and under the architecture name vLLM gives it (``BgeM3EmbeddingModel``, set with
``--json-model-override-args '{"architectures": ["BgeM3EmbeddingModel"]}'``):

- dense: the model's embedding (``<s>``, normalised: its sentence-transformers files say so);
- multi-vector (task token_embed): ``colbert_linear`` (colbert_linear.pt) on every token but the
  first, L2-normalised — [L - 1, H] per text;
- sparse (task token_classify): ``relu(sparse_linear(h))`` (sparse_linear.pt) on every token but the
  first and the last — [L - 2, 1] per text, one weight per token; the lexical weights (TEI's
  /embed_sparse) keep each token id's largest weight, as FlagEmbedding does.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from multiscore.configs.model_kind import ModelKind, Task
from multiscore.configs.pooling_config import PoolingConfig
from multiscore.layers.pooler import PoolingMetadata, sequence_rows
from multiscore.models.xlm_roberta import XLMRobertaModel


class BgeM3Pooler:
    """Pooled batches: the dense pooler's. Token batches: per sequence its multi-vectors or sparse weights."""

    def __init__(self, dense, sparse_linear: nn.Linear, colbert_linear: nn.Linear) -> None:
        self.dense = dense
        self.head = dense.head  # the loader reads sentence-transformers Dense layers into it, if any
        self.sparse_linear = sparse_linear  # [H] -> [1]
        self.colbert_linear = colbert_linear  # [H] -> [H]

    def rows(self, meta: PoolingMetadata) -> Optional[torch.Tensor]:
        return None if meta.per_token else self.dense.rows(meta)

    def __call__(self, hidden: torch.Tensor, meta: PoolingMetadata) -> list[torch.Tensor]:
        if not meta.per_token:
            return self.dense(hidden, meta)
        outputs = []
        for group, sequence in sequence_rows(meta):
            rows, params = hidden[sequence], group.params
            if params.dimensions is not None:
                raise ValueError("'dimensions' applies to BGE-M3's dense embedding, not to its token outputs")
            if params.token_head == "classify":
                weights = self.sparse_linear(rows[1:-1]).float()  # [L - 2, 1]: <s> and </s> carry no weight
                outputs.append(torch.relu(weights) if params.activation != "none" else weights)
            else:
                vectors = self.colbert_linear(rows[1:]).float()  # [L - 1, H]: all but <s>
                outputs.append(vectors if params.activation == "none" else F.normalize(vectors, dim=-1))
        return outputs


class BgeM3EmbeddingModel(XLMRobertaModel):
    kind = ModelKind.ENCODER_EMBEDDING
    extra_weight_files = {"sparse_linear.pt": "sparse_linear.", "colbert_linear.pt": "colbert_linear."}
    lexical_weights = True  # TEI's /embed_sparse: the sparse weights reduced per token id

    def __init__(self, config, pooling: Optional[PoolingConfig] = None) -> None:
        super().__init__(config, pooling)
        h = config.hidden_size
        self.sparse_linear = nn.Linear(h, 1)
        self.colbert_linear = nn.Linear(h, h)
        self.pooler = BgeM3Pooler(self.pooler, self.sparse_linear, self.colbert_linear)

    @classmethod
    def tasks_for(cls, kind: ModelKind, hf_config) -> frozenset[Task]:
        return super().tasks_for(kind, hf_config) | {Task.TOKEN_CLASSIFY}  # the sparse weights
