"""ModelWorker: owns the model and the attention backend; turns a list of sequences into outputs.

One path for every model: build the packed batch, let the backend plan its attention once, call
the model (which runs its layers and its own pooler).
"""

from __future__ import annotations

import torch

from multiscore.configs.model_config import ModelConfig, head_dim_of
from multiscore.layers.attention import BatchAttention, default_backend_name, get_backend_class
from multiscore.model_executor.forward_batch import ForwardBatch, ScoreSequence
from multiscore.model_executor.weight_loader import load_model
from multiscore.server_args import ServerArgs


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
        self.causal = not model_config.kind.bidirectional
        cfg = model_config.hf_config
        backend_name = server_args.attention_backend or default_backend_name(self.device.type)
        self.backend = get_backend_class(backend_name)(
            self.device,
            self.dtype,
            num_heads=cfg.num_attention_heads,
            num_kv_heads=getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads,
            head_dim=head_dim_of(cfg),
        )

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @torch.inference_mode()
    def forward(self, seqs: list[ScoreSequence]) -> list[torch.Tensor]:
        """Run a batch: one float32 CPU tensor [num_items, C] per sequence, in order.

        C is the number of label tokens (CausalLM), of labels (classifiers), or the embedding's
        dimensions (embedding models, one item per sequence)."""
        batch = ForwardBatch.build(seqs, self.device)
        attention = BatchAttention(self.backend, self.backend.build_metadata(batch.layouts, causal=self.causal))
        return [out.cpu() for out in self.model(batch, attention)]
