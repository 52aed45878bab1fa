"""Benchmark: scoring with the newest decoder families, against transformers in the same run.

``--model gemma4``: a Gemma 4 reranker (``Gemma4ForCausalLM`` read at label tokens), where the last
``num_kv_shared_layers`` layers reuse earlier layers' keys and values. Those layers make no keys, so
no row reads theirs: multiscore runs them on the rows the pooler reads alone (one per item). Rows:

- MIS, the KV-sharing layers on the read rows (the default);
- MIS, every row through every layer (``shared_layers_read_rows_only = False``: what a runtime
  without the rule computes);
- single-item (each item its own sequence: query + item);
- transformers scoring every (query + item) pair in one batch with ``logits_to_keep=1`` (which
  slices its own KV-sharing layers to the last token: its fastest path).

The model is random, at transformers' ``Gemma4TextConfig`` default widths (hidden 2304, MLP 9216,
8 heads of 256, 4 kv heads; global layers 512-wide heads), 8 layers of which the last 3 share KV
(Gemma 3n E4B shares 15 of 35), double-wide MLPs there, per-layer embeddings of 256.

``--model qwen3_5``: a Qwen3.5 reranker (``Qwen3_5ForCausalLM``): linear-attention layers (a gated
delta rule in chunks of 64 steps, as transformers runs it) and every fourth layer
attention. Qwen3-0.6B's widths (hidden 1024, MLP 3072, 16 heads of 128, 8 kv heads), linear layers
of 16 key and 16 value heads of 128, 8 layers. Rows: MIS, single-item, transformers (one batch).

``--model granite_hybrid``: a Granite 4.0-H reranker (``GraniteMoeHybridForCausalLM``): Mamba2 layers
(the SSD scan in chunks of 64; transformers runs its own chunked torch scan) and every fourth layer
attention without rotary, a shared MLP (granite-4.0-h-micro's shape: no experts). Hidden 1024, shared
MLP 3072, 16 heads of 64 (4 kv heads); Mamba 32 heads of 64 over a state of 128, 8 layers.

``--model gpt_oss``: a GPT-OSS reranker (``GptOssForCausalLM``): sink logits in every softmax,
alternating 128-key sliding and full layers, YaRN, 32 experts (4 per token) of clamped SwiGLUs.
gpt-oss-20b's layer shapes at a quarter of its width (hidden 720, experts of 720, 16 heads of 64, 2 kv
heads), 8 layers. transformers runs its experts one at a time as multiscore does (its CPU default).

``--model jamba``: a Jamba reranker (``JambaForCausalLM``): Mamba (v1) layers (a selective scan per
channel, stepped through time; transformers steps through time too, in torch, without the mamba-ssm
kernels) and one attention layer in 8 (no positions), 4 experts (2 per token) in every other layer.
Hidden 1024, MLPs and experts of 2048, 16 heads of 64 (8 kv heads); Mamba inner 2048, state 16,
dt rank 64, 8 layers.

``--model minicpm3``: a MiniCPM3 reranker (``MiniCPM3ForCausalLM``): multi-head latent attention (queries
through a rank-384 latent, keys and values from a rank-256 one plus a shared rotated key head; keys of
64 + 32, values of 64, zero-padded to 96 for the attention call here), MiniCPM's multipliers. Hidden 1024,
MLP 2560, 16 heads, 8 layers.

``--model deepseek_v3``: a DeepSeek-V3 reranker (``DeepseekV3ForCausalLM``): MiniCPM3's latent attention
shape (queries through a rank-384 latent, keys and values from a rank-256 one; keys of 64 + 32, values of
64) with its rope part over interleaved pairs, yarn; a dense first layer (MLP 2560), then 16 routed
experts of 512 in 4 groups (the 2 best groups kept, 4 experts per token, sigmoid scores with a correction
bias) beside one shared expert. Hidden 1024, 16 heads, 8 layers. transformers runs its experts one at a
time as multiscore does.

``--model zamba2``: a Zamba2 reranker (``Zamba2ForCausalLM``): Mamba2 layers (the SSD scan in chunks of 64;
transformers runs its own chunked torch scan), and before 2 of the 8 a shared transformer block on
[hidden | embeddings] (2048 wide: 16 heads of 128, rotary) with each layer's own rank-128 adapters, as
Zamba2-1.2B's (hidden 1024, MLP 4096, one shared block); Mamba 32 heads of 64 over a state of 64.

``--model llama4``: a Llama 4 reranker (``Llama4ForCausalLM``): rotary layers over interleaved pairs with the
weightless q/k norm, every fourth layer NoPE with the query temperature, 16 experts of 1024 (one per token,
fed the token scaled by its sigmoid score) beside a shared expert in every other layer, dense MLPs of 2048
in the others. Hidden 1024, 16 heads of 64 (8 kv heads), 8 layers.

``--model bloom``: a BLOOM reranker (``BloomForCausalLM``): ALiBi (served here as 8 extra q/k dimensions per
head), LayerNorms, a 4x GELU MLP. Hidden 1024, 16 heads of 64, 8 layers.

All read 3 label tokens over a 32,768-token vocabulary, fp32, median of ``--repeats``.

    python benchmark/bench_new_architectures.py --model gemma4|qwen3_5|granite_hybrid|gpt_oss|jamba|minicpm3|deepseek_v3|zamba2|llama4|bloom [--query 128] [--items 16] [--item-len 16] [--repeats 3] [--markdown]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "scripts"))
from bench_common import load_average, machine_line, median_time, print_rows  # noqa: E402
from make_tiny_model import build_tokenizer  # noqa: E402

from multiscore.configs.model_config import ModelConfig  # noqa: E402
from multiscore.messages import PoolingParams  # noqa: E402
from multiscore.model_executor.forward_batch import ScoreSequence  # noqa: E402
from multiscore.model_executor.mis_layout import pack_mis  # noqa: E402
from multiscore.model_executor.model_worker import ModelWorker  # noqa: E402
from multiscore.server_args import ServerArgs  # noqa: E402

VOCAB = 32768
DELIMITER = 4
LABELS = [1000, 2000, 3000]
SHARED = 3


def build_checkpoint(model: str, out: pathlib.Path) -> pathlib.Path:
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if model == "gemma4":
        config = transformers.Gemma4TextConfig(
            vocab_size=VOCAB, vocab_size_per_layer_input=VOCAB, num_hidden_layers=8,
            layer_types=["sliding_attention"] * 3 + ["full_attention"] + ["sliding_attention"] * 3 + ["full_attention"],
            num_kv_shared_layers=SHARED, use_double_wide_mlp=True, final_logit_softcapping=30.0,
            architectures=["Gemma4ForCausalLM"])
        cls = transformers.Gemma4ForCausalLM
    elif model == "granite_hybrid":
        config = transformers.GraniteMoeHybridConfig(
            vocab_size=VOCAB, hidden_size=1024, num_hidden_layers=8, num_attention_heads=16, num_key_value_heads=4,
            layer_types=["linear_attention"] * 3 + ["attention"] + ["linear_attention"] * 3 + ["attention"],
            mamba_n_heads=32, mamba_d_head=64, mamba_d_state=128, mamba_n_groups=1, mamba_expand=2,
            shared_intermediate_size=3072, num_local_experts=0, position_embedding_type=None,
            embedding_multiplier=12.0, attention_multiplier=0.015625, residual_multiplier=0.22, logits_scaling=8.0,
            architectures=["GraniteMoeHybridForCausalLM"])
        cls = transformers.GraniteMoeHybridForCausalLM
    elif model == "gpt_oss":
        config = transformers.GptOssConfig(
            vocab_size=VOCAB, hidden_size=720, intermediate_size=720, num_hidden_layers=8, num_attention_heads=16,
            num_key_value_heads=2, head_dim=64, num_local_experts=32, num_experts_per_tok=4,
            architectures=["GptOssForCausalLM"])
        cls = transformers.GptOssForCausalLM
    elif model == "jamba":
        config = transformers.JambaConfig(
            vocab_size=VOCAB, hidden_size=1024, intermediate_size=2048, num_hidden_layers=8, num_attention_heads=16,
            num_key_value_heads=8, attn_layer_period=8, attn_layer_offset=4, expert_layer_period=2,
            expert_layer_offset=1, num_experts=4, num_experts_per_tok=2, mamba_d_state=16, mamba_d_conv=4,
            mamba_expand=2, mamba_dt_rank=64, architectures=["JambaForCausalLM"])
        cls = transformers.JambaForCausalLM
    elif model == "minicpm3":
        config = transformers.MiniCPM3Config(
            vocab_size=VOCAB, hidden_size=1024, intermediate_size=2560, num_hidden_layers=8, num_attention_heads=16,
            num_key_value_heads=16, q_lora_rank=384, kv_lora_rank=256, qk_nope_head_dim=64, qk_rope_head_dim=32,
            v_head_dim=64, scale_emb=12, scale_depth=1.4, dim_model_base=256, tie_word_embeddings=False,
            architectures=["MiniCPM3ForCausalLM"])
        cls = transformers.MiniCPM3ForCausalLM
    elif model == "deepseek_v3":
        config = transformers.DeepseekV3Config(
            vocab_size=VOCAB, hidden_size=1024, intermediate_size=2560, num_hidden_layers=8, num_attention_heads=16,
            num_key_value_heads=16, q_lora_rank=384, kv_lora_rank=256, qk_nope_head_dim=64, qk_rope_head_dim=32,
            v_head_dim=64, n_routed_experts=16, num_experts_per_tok=4, n_group=4, topk_group=2, n_shared_experts=1,
            moe_intermediate_size=512, first_k_dense_replace=1, routed_scaling_factor=2.5, tie_word_embeddings=False,
            rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0, "original_max_position_embeddings": 1024,
                             "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
            architectures=["DeepseekV3ForCausalLM"])
        cls = transformers.DeepseekV3ForCausalLM
    elif model == "llama4":
        config = transformers.Llama4TextConfig(
            vocab_size=VOCAB, hidden_size=1024, intermediate_size=1024, intermediate_size_mlp=2048, num_hidden_layers=8,
            num_attention_heads=16, num_key_value_heads=8, head_dim=64, num_local_experts=16, num_experts_per_tok=1,
            interleave_moe_layer_step=2, tie_word_embeddings=False, architectures=["Llama4ForCausalLM"])
        cls = transformers.Llama4ForCausalLM
    elif model == "bloom":
        config = transformers.BloomConfig(vocab_size=VOCAB, hidden_size=1024, n_layer=8, n_head=16,
                                          architectures=["BloomForCausalLM"])
        cls = transformers.BloomForCausalLM
    elif model == "zamba2":
        config = transformers.Zamba2Config(
            vocab_size=VOCAB, hidden_size=1024, intermediate_size=4096, num_hidden_layers=8, num_attention_heads=16,
            layers_block_type=["linear_attention"] * 3 + ["hybrid"] + ["linear_attention"] * 3 + ["hybrid"],
            num_mem_blocks=1, use_shared_attention_adapter=True, adapter_rank=128, use_mem_rope=True,
            n_mamba_heads=32, mamba_d_state=64, mamba_ngroups=1, mamba_expand=2, architectures=["Zamba2ForCausalLM"])
        cls = transformers.Zamba2ForCausalLM
    else:
        config = transformers.Qwen3_5TextConfig(
            vocab_size=VOCAB, hidden_size=1024, intermediate_size=3072, num_hidden_layers=8, num_attention_heads=16,
            num_key_value_heads=8, head_dim=128, linear_num_key_heads=16, linear_num_value_heads=16,
            linear_key_head_dim=128, linear_value_head_dim=128, architectures=["Qwen3_5ForCausalLM"])
        cls = transformers.Qwen3_5ForCausalLM
    torch.manual_seed(0)
    cls(config).eval().save_pretrained(out)
    build_tokenizer({"gemma4": "gemma3", "granite_hybrid": "llama", "jamba": "llama", "zamba2": "llama"}.get(model, "qwen3")).save_pretrained(out)
    return out


def workload(query_len: int, num_items: int, item_len: int):
    gen = torch.Generator().manual_seed(1234)
    query = torch.randint(10, VOCAB, (query_len,), generator=gen).tolist()
    items = torch.randint(10, VOCAB, (num_items, item_len), generator=gen).tolist()
    return query, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["gemma4", "qwen3_5", "granite_hybrid", "gpt_oss", "jamba", "minicpm3", "deepseek_v3",
                                            "zamba2", "llama4", "bloom"], default="gemma4")
    parser.add_argument("--query", type=int, default=128)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--item-len", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = build_checkpoint(args.model, pathlib.Path(tmp))
        query, items = workload(args.query, args.items, args.item_len)
        pooling = PoolingParams(label_token_ids=LABELS, activation="softmax")
        mis = [ScoreSequence("m", pack_mis(query, items, DELIMITER), 0, len(items), pooling, query_len=len(query),
                             item_lens=[len(it) for it in items])]
        singles = [ScoreSequence(f"s{i}", query + it, i, 1, pooling) for i, it in enumerate(items)]
        server_args = ServerArgs(model_path=str(path), device="cpu", dtype="float32", disable_radix_cache=True)
        worker = ModelWorker(server_args, ModelConfig.from_server_args(server_args))
        body = worker.model.model

        def run(batch, read_rows_only: bool = True):
            if args.model == "gemma4":
                body.shared_layers_read_rows_only = read_rows_only
            return torch.cat(worker.forward(batch))

        rows = []
        t, s = median_time(lambda: run(mis), args.repeats)
        rows.append(("multiscore MIS" + (", KV-sharing layers on the read rows" if args.model == "gemma4" else ""), t, s))
        if args.model == "gemma4":
            t_all, s_all = median_time(lambda: run(mis, False), args.repeats)
            rows.append(("multiscore MIS, every row through every layer", t_all, s_all))
        t, s = median_time(lambda: run(singles), args.repeats)
        rows.append(("multiscore single-item", t, s))

        from transformers import AutoModelForCausalLM

        hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
        pairs = torch.tensor([query + it for it in items])  # [N, Q + L]: equal lengths, no padding

        def hf_scores():
            with torch.inference_mode():
                logits = hf(input_ids=pairs, logits_to_keep=1).logits[:, -1, LABELS]
            return torch.softmax(logits.float(), dim=-1)

        t_hf, s_hf = median_time(hf_scores, args.repeats)

    print(f"# {args.model} reranker, query {args.query} + {args.items} items x {args.item_len} tokens, fp32, "
          f"median of {args.repeats}; load {load_average()}")
    print(f"# {machine_line()}")
    rows.append(("transformers, all pairs in one batch, logits_to_keep=1", t_hf, s_hf))
    body_rows = [[name, f"{t * 1000:.1f}", f"{t_hf / t:.2f}x", f"{(s - s_hf).abs().max().item():.1e}"]
                 for name, t, s in rows]
    print_rows(["variant", "ms", "vs transformers", "max |score diff| vs transformers"], body_rows, args.markdown)
    if args.model == "gemma4":
        print(f"# the read-rows rule: {rows[1][1] / rows[0][1]:.2f}x on the MIS pass")


if __name__ == "__main__":
    main()
