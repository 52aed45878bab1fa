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


_GPT2_SHAPE = dict(n_embd=64, n_layer=2, n_head=4, n_inner=128, n_positions=256, initializer_range=0.1,
                   activation_function="gelu_new")
# Decoders whose configs name their shape their own way (make_tiny_model adds the vocabulary, the special token ids
# and the architecture).
OWN_NAME_CONFIGS = {
    # an MLP of 128 (ffn_dim), 256 learned positions, ReLU
    "opt": dict(hidden_size=64, word_embed_proj_dim=64, num_hidden_layers=2, num_attention_heads=4, ffn_dim=128,
                max_position_embeddings=256, init_std=0.1, activation_function="relu"),
    # a dense squared-ReLU layer, then 4 experts of 32 (2 per token) beside a shared one of 48; sliding (window 4) and
    # global layers by turns, global scores times 1.5
    "ergo": dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                 first_dense_intermediate_size=96, num_dense_blocks=1, moe_intermediate_size=32, shared_intermediate_size=48,
                 num_experts=4, num_experts_per_tok=2, max_position_embeddings=256, sliding_window=4,
                 global_attention_every_n_layers=2, global_attention_scale=1.5, initializer_range=0.1),
    # an MLP of 128, 256 learned positions, exact GELU
    "biogpt": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   max_position_embeddings=256, initializer_range=0.1),
    # an MLP of 128, 256 positions (sinusoidal), GELU
    "xglm": dict(d_model=64, ffn_dim=128, num_layers=2, attention_heads=4, max_position_embeddings=256, init_std=0.1,
                 activation_function="gelu"),
    # 4 experts of 32 (2 per token, weights L1-normalised), q/k/v clamped to ±0.5
    "dbrx": dict(d_model=64, n_heads=4, n_layers=2, max_seq_len=256, initializer_range=0.1,
                 attn_config={"kv_n_heads": 2, "clip_qkv": 0.5, "rope_theta": 1e4},
                 ffn_config={"ffn_hidden_size": 32, "moe_num_experts": 4, "moe_top_k": 2}),
    # a global layer, then a local one with a 4-position window; an MLP of 128
    "gpt_neo": dict(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128, attention_types=[[["global", "local"], 1]],
                    window_size=4, max_position_embeddings=256, initializer_range=0.1, activation_function="gelu_new"),
    # an MLP of 128 (n_inner), 256 positions (GPT-J, CodeGen: rotary on the first 8 of each head's 16 dims instead)
    "gpt2": _GPT2_SHAPE, "gpt_bigcode": _GPT2_SHAPE,
    # GPT-1: an MLP of 4 x 64, 256 learned positions, GPT's tanh GELU
    "openai-gpt": dict(n_embd=64, n_layer=2, n_head=4, n_positions=256, initializer_range=0.1, afn="gelu"),
    # CTRL: a ReLU MLP of 128 (dff), 256 sinusoidal positions, the final norm at eps 1e-5 (the layers' at 1e-6)
    "ctrl": dict(n_embd=64, n_layer=2, n_head=4, dff=128, n_positions=256, initializer_range=0.1, layer_norm_epsilon=1e-5),
    "gptj": dict(_GPT2_SHAPE, rotary_dim=8, tie_word_embeddings=False),
    "codegen": dict(_GPT2_SHAPE, rotary_dim=8, tie_word_embeddings=False),
}


def apply_family_overrides(arch: str, cfg: dict) -> None:
    """Set, in ``cfg`` (make_tiny_model's common decoder shape), what each of these families needs on top:
    latent attention (MiniCPM3, the DeepSeek family), DeepSeek's experts (and behind other attentions),
    MiniMax-M2's, HunYuan's and OLMoE's experts, and the Llama kin with LayerNorms or their own names."""
    if arch == "minicpm3":  # MLA: q through a rank-24 latent, keys/values from a rank-16 one; values narrower than keys
        cfg.update(q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12,
                   num_key_value_heads=4, scale_emb=12.0, scale_depth=1.4, dim_model_base=16, tie_word_embeddings=False)
    if arch in ("deepseek_v2", "deepseek_v3", "mistral4", "glm4_moe_lite", "deepseek_v32", "glm_moe_dsa", "axk1"):
        # MLA as MiniCPM3's, then a dense layer and two sparse ones: 8 experts of 32 in 4 groups (2 kept), 2 per
        # token, scaled, beside a shared expert
        cfg.update(num_hidden_layers=3, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8,
                   v_head_dim=12, num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2, n_group=4,
                   topk_group=2, n_shared_experts=1, moe_intermediate_size=32, first_k_dense_replace=1,
                   routed_scaling_factor=2.5, norm_topk_prob=True)
    if arch == "deepseek_v2":  # queries straight from q_proj; the group of the best expert; yarn (scores scaled by mscale²)
        cfg.update(q_lora_rank=None, topk_method="group_limited_greedy",
                   rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0, "original_max_position_embeddings": 1024,
                                    "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 0.707, "mscale_all_dim": 0.707})
    if arch in ("deepseek_v32", "glm_moe_dsa"):  # sparse attention's indexer (2 heads of 16), dense below 128 keys;
        # GLM-5's layer 2 reuses layer 1's top-k
        cfg.update(index_topk=128, index_n_heads=2, index_head_dim=16, mlp_layer_types=["dense", "sparse", "sparse"],
                   **({"indexer_types": ["full", "full", "shared"]} if arch == "glm_moe_dsa" else {}))
    if arch == "axk1":  # its MoE output normed; the dense layer named in mlp_layer_types
        cfg.pop("first_k_dense_replace")
        cfg.update(mlp_layer_types=["dense", "sparse", "sparse"])
    if arch in ("deepseek_v3", "deepseek_v32", "axk1"):  # yarn whose mscale differs from mscale_all_dim (the rotary scaled too)
        cfg.update(rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0, "original_max_position_embeddings": 1024,
                                    "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.707})
    if arch == "mistral4":  # Llama 4's query temperature from position 8 on; the rotary named as a share of the key width
        cfg.update(rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 512.0, "original_max_position_embeddings": 8,
                                    "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0,
                                    "llama_4_scaling_beta": 0.5, "partial_rotary_factor": 8 / 24})
    if arch == "glm4_moe_lite":  # one group (no group choice), the plain rotary
        cfg.update(n_group=1, topk_group=1, mlp_layer_types=["dense", "sparse", "sparse"])
    if arch == "glm4_moe":  # GQA with biases and q/k norms, rotary on half of each head; experts as DeepSeek-V3's
        cfg.update(num_hidden_layers=3, head_dim=16, attention_bias=True, use_qk_norm=True, partial_rotary_factor=0.5,
                   n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2, n_shared_experts=1,
                   moe_intermediate_size=32, first_k_dense_replace=1, routed_scaling_factor=2.5, norm_topk_prob=True)
    if arch == "longcat_flash":  # 2 layers of two MLA sublayers (as DeepSeek's), 4 experts of 32 and 2 identity ones, 3 per token
        del cfg["num_hidden_layers"], cfg["intermediate_size"]
        cfg.update(num_layers=2, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12,
                   head_dim=8, num_key_value_heads=4, ffn_hidden_size=128, expert_ffn_hidden_size=32, n_routed_experts=4,
                   zero_expert_num=2, moe_topk=3, routed_scaling_factor=2.0)
    if arch == "lara_mini":  # delta net, sliding (rotary, window 4), delta net, full (NoPE), sliding; Qwen3.5's delta-net
        # shapes; 4 experts of 32 (stored 3-D), 2 per token, beside an ungated shared one of 48, in every layer
        del cfg["intermediate_size"]
        cfg.update(QWEN3_5_MOE_EXPERTS, num_hidden_layers=5, head_dim=16, sliding_window=4,
                   layer_types=["linear_attention", "sliding_attention", "linear_attention", "full_attention", "sliding_attention"],
                   linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=8,
                   linear_conv_kernel_dim=4, tie_word_embeddings=True)
    if arch == "mimo_v2_flash":  # a full layer, two sliding ones (window 4, twice the kv heads, sinks); keys of 24, values
        # of 16 (scaled); 8 of 24 dims rotate, with a base per layer type; a dense MLP then DeepSeek-V3's experts
        cfg.update(num_hidden_layers=3, head_dim=24, v_head_dim=16, attention_bias=True, attention_value_scale=0.7,
                   sliding_window=4, layer_types=["full_attention", "sliding_attention", "sliding_attention"],
                   rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 5e5, "partial_rotary_factor": 0.334},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.334}},
                   n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2, moe_intermediate_size=32,
                   routed_scaling_factor=2.5, norm_topk_prob=True, mlp_layer_types=["dense", "sparse", "sparse"])
    if arch == "nanochat":  # its relu² MLP; logits soft-capped at 3
        cfg.update(final_logit_softcapping=3.0)
    if arch == "laguna":  # a full layer (half of each head rotates) of 4 heads, a sliding one (window 4, all rotate) of 8;
        # softplus gates per head; a dense MLP, then 4 experts of 32 (2 per token, soft-capped logits, biased choice,
        # scaled) beside a shared one of 48
        cfg.update(num_hidden_layers=3, head_dim=16, sliding_window=4, num_attention_heads_per_layer=[4, 8, 4],
                   layer_types=["full_attention", "sliding_attention", "full_attention"],
                   gating=True,
                   rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 5e5, "partial_rotary_factor": 0.5},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 1.0}},
                   num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=48,
                   moe_routed_scaling_factor=2.0, moe_router_logit_softcapping=3.0, mlp_layer_types=["dense", "sparse", "sparse"])
    if arch == "hy_v4":  # MLA as DeepSeek's (values 16 wide) with sinks and gates, 2 hyper-connection streams; a dense MLP,
        # then 4 experts of 32 (2 per token) beside a shared one; DSA's top-k (256) above every test's length
        cfg.update(num_hidden_layers=3, q_lora_rank=32, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                   num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2, n_shared_experts=1, moe_intermediate_size=32,
                   index_topk=256, index_head_dim=16, index_n_heads=2, hc_mult=2, swiglu_limit=0.5,
                   mlp_layer_types=["dense", "sparse", "sparse"])
    if arch == "dory":  # one input layer, two looped twice, one output layer; sliding ones (window 4) and a full one
        cfg.update(num_hidden_layers=4, head_dim=16, intermediate_size=96, sliding_window=4, n_input_layers=1,
                   n_output_layers=1, n_recurrent_loops=2, initializer_range=0.0177)
    if arch == "jetmoe":  # 4 attention experts and 4 MLP experts of 32, 2 per token; 2 kv heads of 16
        cfg.update(num_key_value_heads=2, kv_channels=16, intermediate_size=32, num_local_experts=4, num_experts_per_tok=2)
    if arch == "apertus1p5":  # an LM head of 160 rows, fewer than the vocabulary (every test's ids and labels below)
        cfg.update(output_vocab_size=160)
    if arch == "axk2":  # DeepSeek-V3.2's latent attention with the query-side gate, gated norms of rank 4; a dense layer, then 8
        # experts in 4 groups (2 kept, dropped ones scoring 0), 2 per token, beside a shared one; DSA's top-k above every test
        cfg.update(num_hidden_layers=3, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12,
                   num_key_value_heads=4, n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2, n_shared_experts=1,
                   moe_intermediate_size=32, routed_scaling_factor=2.5, norm_topk_prob=True, index_topk=256, index_head_dim=16,
                   index_n_heads=2, gated_norm_rank=4, mlp_layer_types=["dense", "sparse", "sparse"])
    if arch == "olmo_hybrid":  # delta net, attention, delta net; Qwen3.5's delta-net shapes (4 value heads over 2 key heads)
        cfg.update(num_hidden_layers=3, layer_types=["linear_attention", "full_attention", "linear_attention"],
                   linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8, linear_value_head_dim=8,
                   linear_conv_kernel_dim=4, linear_allow_neg_eigval=True)
    if arch == "kimi_linear":  # KDA, MLA without positions, KDA, MLA (queries from q_proj, values narrower than keys);
        # a dense layer, then 8 experts of 32 in 4 groups (2 kept), 2 per token, scaled, beside a shared one
        cfg.update(num_hidden_layers=4, layer_types=["linear_attention", "full_attention"] * 2,
                   mlp_layer_types=["dense", "sparse", "sparse", "sparse"], q_lora_rank=None, kv_lora_rank=16,
                   qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12, num_key_value_heads=4, num_local_experts=8,
                   num_experts_per_tok=2, n_group=4, topk_group=2, n_shared_experts=1, moe_intermediate_size=32,
                   routed_scaling_factor=2.5, norm_topk_prob=True, linear_num_heads=4, linear_head_dim=8,
                   linear_conv_kernel_dim=4)
    if arch == "aria_text":  # 4 experts of 32 (their [gate | up] as wide as the hidden size: a transposition shows), 2 per
        # token, beside shared experts twice as wide
        cfg.update(intermediate_size=32, moe_num_experts=4, moe_topk=2, moe_num_shared_experts=2)
    if arch == "minimax":  # attention, lightning, attention, lightning (4 heads of 16: their own decays, by depth too);
        # 4 experts of 128, 2 per token; the residual factors of each kind of layer apart from 1
        cfg.update(num_hidden_layers=4, layer_types=["full_attention", "linear_attention"] * 2, num_local_experts=4,
                   num_experts_per_tok=2, full_attn_alpha_factor=0.9, full_attn_beta_factor=1.2,
                   linear_attn_alpha_factor=1.1, linear_attn_beta_factor=0.7, mlp_alpha_factor=0.8, mlp_beta_factor=1.3)
    if arch == "gemma3n":  # 4 layers (sliding, full; the last two reuse their keys), AltUp over 4 streams, Laurel of
        # rank 8, PLE of 8 (ids from 100 on read row 0), an MLP width per layer, two sparse MLPs; logits soft-capped
        cfg.update(num_hidden_layers=4, head_dim=16, intermediate_size=[128, 96, 128, 160], vocab_size_per_layer_input=100,
                   hidden_size_per_layer_input=8, laurel_rank=8, num_kv_shared_layers=2, sliding_window=4,
                   layer_types=["sliding_attention", "full_attention"] * 2, activation_sparsity_pattern=[0.95, 0.5, 0.0, 0.0],
                   final_logit_softcapping=3.0, tie_word_embeddings=True)
    if arch == "beam":  # a sliding layer (rotary, window 4), a full one (NoPE, scaled queries), a sliding one; the first
        # MLP dense, then 8 experts of 32 in 4 groups (2 kept), 2 per token; logits soft-capped at 3
        cfg.update(num_hidden_layers=3, head_dim=16, sliding_window=4, num_experts=8, num_experts_per_tok=2, n_group=4,
                   topk_group=2, moe_intermediate_size=32, routed_scaling_factor=2.5, final_logit_softcapping=3.0,
                   layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                   mlp_layer_types=["dense", "sparse", "sparse"])
    if arch == "minicpm5_moe":  # Llama's attention gated per dimension; DeepSeek-V3's experts (as Solar Open's) after a dense layer
        cfg.update(num_hidden_layers=3, head_dim=16, n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2,
                   n_shared_experts=1, moe_intermediate_size=32, routed_scaling_factor=2.5, norm_topk_prob=True,
                   mlp_layer_types=["dense", "sparse", "sparse"])
    if arch in ("dots1", "solar_open"):  # DeepSeek-V3's experts behind Qwen3's / Llama's attention
        cfg.update(num_hidden_layers=3, head_dim=16, n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2,
                   n_shared_experts=1, moe_intermediate_size=32, routed_scaling_factor=2.5, norm_topk_prob=True)
    if arch == "dots1":  # a dense first layer; the last layer slides over 4 positions
        cfg.update(first_k_dense_replace=1, sliding_window=4, layer_types=["full_attention"] * 2 + ["sliding_attention"])
    if arch == "minimax_m2":  # 4 experts of 32, 2 per token, a biased sigmoid router; rotary on 8 of 16 dims
        cfg.update(head_dim=16, intermediate_size=32, num_local_experts=4, num_experts_per_tok=2,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5})
    if arch == "helium":  # biased q/k/v (o_proj never)
        cfg.update(head_dim=16, attention_bias=True)
    if arch == "hunyuan_moe":  # 4 experts of 32 (2 per token in layer 0, 3 in layer 1) beside a shared MLP of 32
        cfg.update(head_dim=16, intermediate_size=32, num_experts=4, moe_topk=[2, 3])
    if arch == "olmoe":  # 4 experts of 32, 2 per token (renormalised where norm_topk_prob)
        cfg.update(head_dim=16, intermediate_size=32, num_experts=4, num_experts_per_tok=2)
    if arch == "stablelm":  # biased q/k/v, rotary on a quarter of each head (4 of 16 dims)
        cfg.update(use_qkv_bias=True, layer_norm_eps=cfg.pop("rms_norm_eps"),
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.25})
    if arch == "starcoder2":  # biased everything, a 4-position window, a plain GELU-tanh MLP
        cfg.update(use_bias=True, norm_epsilon=cfg.pop("rms_norm_eps"), sliding_window=4, hidden_act="gelu_pytorch_tanh")
    if arch == "nemotron":  # 1 + w LayerNorms, squared ReLU, rotary on half of each head, biased attention
        cfg.update(norm_eps=cfg.pop("rms_norm_eps"), hidden_act="relu2", attention_bias=True, head_dim=16,
                   rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5})
    if arch == "olmo":  # biased attention
        cfg.update(attention_bias=True)
    if arch == "llama4":  # 4 layers: rotary on 0-2 (interleaved pairs, weightless q/k norms after it), layer 3 NoPE with
        # the query temperature from position 2 on; experts (4 of 48, 1 per token, inputs scaled by the sigmoid score,
        # beside a shared one) in layers 1 and 3, a dense MLP of 96 in 0 and 2; chunked attention (under its chunk)
        cfg.update(num_hidden_layers=4, head_dim=16, intermediate_size=48, intermediate_size_mlp=96, num_local_experts=4,
                   num_experts_per_tok=1, interleave_moe_layer_step=2, no_rope_layer_interval=4, use_qk_norm=True,
                   attn_temperature_tuning=True, floor_scale=3, attn_scale=0.5, attention_chunk_size=4096,
                   rope_parameters={"rope_type": "llama3", "rope_theta": 1e4, "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
    if arch == "falcon":  # Falcon-40B's layout: q/k/v grouped per key/value head (2), two LayerNorms per parallel block;
        # biased projections, an MLP of 128 (the 7B's multi-query and the sequential block by overrides)
        cfg.update(num_kv_heads=cfg.pop("num_key_value_heads"), new_decoder_architecture=True, parallel_attn=True,
                   multi_query=False, bias=True, ffn_hidden_size=128, alibi=False,
                   layer_norm_epsilon=cfg.pop("rms_norm_eps"), rope_parameters={"rope_type": "default", "rope_theta": 1e4})
    if arch == "vaultgemma":  # Gemma2's: a 4-position sliding layer then a global one, scores and logits soft-capped
        cfg.update(head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"],
                   query_pre_attn_scalar=16, attn_logit_softcapping=5.0, final_logit_softcapping=3.0)
    if arch == "phimoe":  # 4 experts of 32 (SparseMixer's two per token, a wide jitter so its masks bite); biased
        # attention and LM head; LongRoPE with its short factors and scale (the context stops at 64)
        cfg.update(head_dim=16, intermediate_size=32, num_local_experts=4, num_experts_per_tok=2, router_jitter_noise=0.3,
                   attention_bias=True, lm_head_bias=True, max_position_embeddings=256,
                   rope_parameters={"rope_type": "longrope", "rope_theta": 1e4, "original_max_position_embeddings": 64,
                                    "short_factor": [1.0, 1.1, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0], "long_factor": [4.0] * 8,
                                    "short_mscale": 1.3, "long_mscale": 1.5})
    if arch == "bloom":  # its own names; 6 heads of 16 (ALiBi slopes past a power of two), GELU MLP of 4x, tied LM head
        cfg.update(n_head=6, hidden_size=96, n_layer=cfg.pop("num_hidden_layers"), layer_norm_epsilon=cfg.pop("rms_norm_eps"),
                   tie_word_embeddings=True)  # as the published ones
        for key in ("num_key_value_heads", "num_attention_heads", "intermediate_size", "max_position_embeddings"):
            cfg.pop(key)
    if arch == "mpt":  # its own names; 6 heads of 16 (MPT's slopes for fewer heads than a power of two), q/k/v
        # clamped at 0.5, a tied LM head as the published ones
        for key in ("hidden_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "intermediate_size",
                    "max_position_embeddings", "rms_norm_eps"):
            cfg.pop(key)
        cfg.update(d_model=96, n_heads=6, n_layers=2, max_seq_len=256, attn_config={"clip_qkv": 0.5}, tie_word_embeddings=True)
    if arch == "jais2":  # biased attention and squared-ReLU MLP, LayerNorms
        cfg.update(layer_norm_eps=cfg.pop("rms_norm_eps"), hidden_act="relu2", attention_bias=True, mlp_bias=True, head_dim=16)
    if arch == "cwm":  # a global layer then a 4-position sliding one (its default llama3 rotary)
        cfg.update(head_dim=16, sliding_window=4, layer_types=["full_attention", "sliding_attention"])
    if arch == "youtu":  # MiniCPM3's latent attention shapes, its rope part over interleaved pairs; dense MLPs
        cfg.update(q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12,
                   num_key_value_heads=4, tie_word_embeddings=True)
    if arch == "flex_olmo":  # OLMo 2's post-norms and q/k norms; 4 experts of 32, 2 per token
        cfg.update(head_dim=16, intermediate_size=32, num_experts=4, num_experts_per_tok=2, norm_topk_prob=False)
    if arch == "exaone_moe":  # EXAONE 4.0's sliding then global (NoPE) layers; a dense layer then a sparse one (4 experts
        # of 32 in 2 groups, 1 kept, 2 per token, a perturbed correction bias) beside a shared expert
        cfg.update(head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"],
                   mlp_layer_types=["dense", "sparse"], num_experts=4, num_experts_per_tok=2, n_group=2, topk_group=1,
                   num_shared_experts=1, moe_intermediate_size=32, routed_scaling_factor=2.5, norm_topk_prob=True)
    if arch == "afmoe":  # a dense sliding layer (rotary, 4 positions), then a sparse global one (NoPE): 4 experts of 32,
        # 2 per token, a perturbed expert bias, route_scale 2, a shared expert; muP's scaled embeddings
        cfg.update(num_hidden_layers=2, head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"],
                   num_dense_layers=1, num_experts=4, num_experts_per_tok=2, num_shared_experts=1, moe_intermediate_size=32,
                   route_scale=2.0, mup_enabled=True)
    if arch == "cohere2_moe":  # a dense prefix layer (global, rotating: pattern 1), then a sliding and a global (NoPE)
        # sparse one: 4 experts of 32, 2 per token, beside a shared expert, averaged; logits scaled by 0.5
        cfg.update(num_hidden_layers=3, head_dim=16, layer_norm_eps=cfg.pop("rms_norm_eps"), rms_norm_eps=None,
                   logit_scale=0.5, tie_word_embeddings=True, sliding_window=4, prefix_dense_sliding_window_pattern=1,
                   layer_types=["full_attention", "sliding_attention", "full_attention"],
                   mlp_layer_types=["dense", "sparse", "sparse"], prefix_dense_intermediate_size=96, intermediate_size=32,
                   num_experts=4, num_experts_per_tok=2, num_shared_experts=1, shared_expert_combination_strategy="average")
    if arch == "kolibri1":  # a sliding layer (rotary, 4 positions), then a global NoPE one; 4 experts of 32, 2 per token
        # (renormalised), a perturbed expert bias, a shared expert of 48
        cfg.update(head_dim=16, sliding_window=4, layer_types=["sliding_attention", "full_attention"], num_experts=4,
                   num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=48, norm_topk_prob=True)
        cfg.pop("intermediate_size")
    if arch == "hy_v3":  # a dense layer, then 4 experts of 32 (2 per token, a perturbed bias, scaled by 2.5) beside a shared one
        cfg.update(head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, num_shared_experts=1,
                   router_scaling_factor=2.5, mlp_layer_types=["dense", "sparse"])
