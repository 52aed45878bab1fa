"""ModelWorker: owns the model and the attention backend; turns a list of sequences into scores."""

from __future__ import annotations

import logging

import torch

from multiscore.layers.attention import default_backend_name, get_backend_class
from multiscore.layers.embedding_pooler import pool, pooling_rows
from multiscore.layers.pooler import score_and_pool
from multiscore.model_executor.forward_batch import ForwardBatch, ScoreSequence
from multiscore.configs.model_config import ModelConfig
from multiscore.model_executor.weight_loader import load_model
from multiscore.models.decoder import head_dim_of
from multiscore.server_args import ServerArgs

logger = logging.getLogger(__name__)


def resolve_dtype(server_args: ServerArgs, model_config: ModelConfig, device: str) -> torch.dtype:
    if server_args.dtype != "auto":
        return getattr(torch, server_args.dtype)
    return torch.float32 if device == "cpu" else model_config.checkpoint_dtype


class ModelWorker:
    def __init__(self, server_args: ServerArgs, model_config: ModelConfig) -> None:
        self.device = torch.device(server_args.resolved_device)
        self.dtype = resolve_dtype(server_args, model_config, self.device.type)
        if server_args.num_threads is not None:
            torch.set_num_threads(server_args.num_threads)
        torch.manual_seed(server_args.seed)
        self.model = load_model(model_config, self.device, self.dtype, seed=server_args.seed)
        self.model_config = model_config
        cfg = model_config.hf_config
        backend_name = server_args.attention_backend or default_backend_name(self.device.type)
        self.backend = None
        if not model_config.is_encoder:  # encoders run their own bidirectional attention
            self.backend = get_backend_class(backend_name)(
                self.device,
                self.dtype,
                num_heads=cfg.num_attention_heads,
                num_kv_heads=getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads,
                head_dim=head_dim_of(cfg),
            )
        self.head_weight, self.head_bias = self.model.head() if hasattr(self.model, "head") else (None, None)

    @property
    def backend_name(self) -> str:
        return self.backend.name if self.backend is not None else "encoder-sdpa"

    @torch.inference_mode()
    def forward(self, seqs: list[ScoreSequence]) -> list[torch.Tensor]:
        """Score a batch: one float32 CPU tensor [num_items, C] per sequence, in order.

        C is the number of labels (classifiers), of label tokens (CausalLM), or the hidden size
        (embedding models, one item per sequence)."""
        batch = ForwardBatch.build(seqs, self.device)
        if self.model_config.is_encoder:
            out = self._forward_encoder(batch)  # [B, C]
            return [row.unsqueeze(0).cpu() for row in out]
        metadata = self.backend.build_metadata(batch.layouts)
        pooling = self.model_config.pooling
        if pooling is not None:  # decoder embedding model
            rows = pooling_rows(pooling.mode, batch.seq_lens, self.device)
            hidden = self.model(batch.input_ids, batch.positions, self.backend, metadata, rows)  # [R, H]
            return [row.unsqueeze(0).cpu() for row in pool(hidden, pooling.mode, batch.seq_lens, pooling.normalize)]
        pooled = self.model(batch.input_ids, batch.positions, self.backend, metadata, batch.readout_rows)  # [R, H]
        scores = score_and_pool(
            pooled, None, batch.groups, self.head_weight, self.head_bias, causal_lm=self.model.causal_lm
        )
        return [s.cpu() for s in scores]

    def _forward_encoder(self, batch: ForwardBatch) -> torch.Tensor:
        """BERT / XLM-R: all token states, then the classifier on each first token or the pooling."""
        hidden = self.model(batch.input_ids, batch.token_type_ids, batch.seq_lens)  # [T, H]
        pooling = self.model_config.pooling
        if pooling is None:
            first = pooling_rows("cls", batch.seq_lens, self.device)
            return self.model.classify(hidden.index_select(0, first)).float()  # [B, num_labels]
        rows = pooling_rows(pooling.mode, batch.seq_lens, self.device)
        return pool(hidden.index_select(0, rows), pooling.mode, batch.seq_lens, pooling.normalize)  # [B, H]
