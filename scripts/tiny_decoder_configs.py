"""The decoder families' tiny shapes that make_tiny_model.py lays over its common one: config dicts for
the families with more to set than a line (experts, layer types, Mamba mixers, windows)."""

def _privacy_filter_config() -> dict:
    """4 experts of 32, 2 per token, clamped at 0.5 (random weights reach it); a bidirectional window
    of 4 positions on either side; YaRN from 64 positions; heads of 16."""
    return dict(head_dim=16, num_local_experts=4, num_experts_per_tok=2, intermediate_size=32, swiglu_limit=0.5,
                sliding_window=4, rms_norm_eps=1e-5, max_position_embeddings=512,
                rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 8.0, "beta_fast": 32.0,
                                 "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 64})


QWEN3_5_MOE_EXPERTS = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=48)


def _moe_config(shared_expert: bool) -> dict:
    """Three layers, the middle one dense (``mlp_only_layers``); 4 experts of 32, 2 per token
    (renormalised for Qwen3-MoE, as its checkpoints; raw for Qwen2-MoE, whose shared expert of 48
    sits behind a sigmoid gate)."""
    cfg = dict(num_hidden_layers=3, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
               decoder_sparse_step=1, mlp_only_layers=[1], norm_topk_prob=not shared_expert)
    if shared_expert:
        cfg["shared_expert_intermediate_size"] = 48
    return cfg


def _gemma4_config(vocab_size: int) -> dict:
    """Four layers, sliding and global by turns; the last two reuse the first two's keys and values
    (KV sharing) and have double-wide MLPs. Global layers: wider heads (32), one kv head whose values
    are its keys' projection, a partial "proportional" rotary. Per-layer embeddings of 8, and a
    sliding window of 4 positions, shorter than the tests' queries."""
    return dict(num_hidden_layers=4, layer_types=["sliding_attention", "full_attention"] * 2, sliding_window=4,
                global_head_dim=32, num_global_key_value_heads=1, attention_k_eq_v=True, num_kv_shared_layers=2,
                use_double_wide_mlp=True, hidden_size_per_layer_input=8, vocab_size_per_layer_input=vocab_size,
                final_logit_softcapping=30.0,
                rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
                                 "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25,
                                                    "rope_theta": 1e6}})


def _qwen3_5_config() -> dict:
    """Linear attention and attention by turns; 4 value heads over 2 key heads in the linear layers;
    a quarter of each attention head rotates (M-RoPE's sections, equal on text)."""
    return dict(num_hidden_layers=4, layer_types=["linear_attention", "full_attention"] * 2, linear_num_key_heads=2,
                linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=8, linear_conv_kernel_dim=4,
                rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.25,
                                 "mrope_section": [1, 1, 0], "mrope_interleaved": True})


def _granite_hybrid_config() -> dict:
    """Granite 4.0-H's shape: Mamba2 and attention layers by turns (no rotary), 4 Mamba heads of 32 in
    2 groups with a state of 8, a shared MLP of 48 beside 4 experts of 32 (2 per token), and Granite's
    four multipliers away from 1."""
    return dict(num_hidden_layers=4, layer_types=["linear_attention", "attention"] * 2, mamba_n_heads=4,
                mamba_n_groups=2, mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_chunk_size=256,
                intermediate_size=32, shared_intermediate_size=48, num_local_experts=4, num_experts_per_tok=2,
                position_embedding_type=None, embedding_multiplier=6.0, attention_multiplier=0.2,
                residual_multiplier=0.5, logits_scaling=4.0)


def _nemotron_h_config(eps: float) -> dict:
    """Nemotron-H's blocks: Mamba2, MLP, attention, MLP, Mamba2; 4 Mamba heads of 16 in 2 groups
    with a state of 8, attention heads of 16 (2 kv heads)."""
    return dict(num_hidden_layers=5, layers_block_type=["linear_attention", "mlp", "full_attention", "mlp", "linear_attention"],
                mamba_num_heads=4, mamba_head_dim=16, n_groups=2, ssm_state_size=8, conv_kernel=4, chunk_size=256,
                head_dim=16, layer_norm_epsilon=eps)
