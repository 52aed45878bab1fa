"""The encoder families' tiny configs for make_tiny_model.py (the decoders' are in tiny_decoder_configs.py), and the
shape every tiny checkpoint shares."""


def round_up(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


def tiny_shape(tokenizer) -> dict:
    """What every tiny checkpoint shares: 2 layers, hidden 64, 4 heads, large random weights."""
    return dict(
        vocab_size=round_up(len(tokenizer), 64), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, initializer_range=0.1,
    )


def special_ids(tokenizer) -> dict:
    return {f"{name}_token_id": tokenizer.convert_tokens_to_ids(f"<{name}>") for name in ("pad", "bos", "eos")}


def encoder_config(arch: str, arch_name: str, tokenizer) -> dict:
    """The tiny config of encoder ``arch`` under ``arch_name`` (its head's class)."""
    if arch == "modernbert":
        return modernbert_config(arch_name, tokenizer)
    if arch == "eurobert":  # Llama's block, bidirectional: GQA, RMSNorm, SwiGLU; no token types
        return dict(
            **tiny_shape(tokenizer), num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
            hidden_act="silu", rope_parameters={"rope_type": "default", "rope_theta": 1000.0},
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, mask_token_id=tokenizer.convert_tokens_to_ids("<unk>"),
            architectures=[arch_name],
        )
    if arch == "ultrabert":  # Llama's block, bidirectional; a sliding layer (4 either side) then a full one
        return dict(
            **tiny_shape(tokenizer), num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
            layer_types=["sliding_attention", "full_attention"], sliding_window=4, attention_bias=True, mlp_bias=True,
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                             "full_attention": {"rope_type": "default", "rope_theta": 160000.0}},
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
            architectures=[arch_name],
        )
    if arch == "distilbert":  # its own size names; no token types
        shape = tiny_shape(tokenizer)
        return dict(
            vocab_size=shape["vocab_size"], dim=shape["hidden_size"], hidden_dim=shape["intermediate_size"],
            n_layers=shape["num_hidden_layers"], n_heads=shape["num_attention_heads"], max_position_embeddings=512,
            activation="gelu", pad_token_id=tokenizer.pad_token_id, initializer_range=0.1, architectures=[arch_name],
        )
    cfg = dict(
        **tiny_shape(tokenizer),
        max_position_embeddings=512,
        hidden_act="gelu",
        pad_token_id=tokenizer.pad_token_id,
        architectures=[arch_name],
    )
    if arch == "deberta_v2":  # DeBERTa-v3's shape: relative attention, log buckets, shared keys, no token types
        cfg.update(type_vocab_size=0, layer_norm_eps=1e-7, relative_attention=True, pos_att_type=["p2c", "c2p"],
                   position_buckets=8, max_relative_positions=-1, share_att_key=True, norm_rel_ebd="layer_norm",
                   position_biased_input=False, pooler_hidden_size=64, pooler_hidden_act="gelu")
    elif arch == "deberta":  # DeBERTa (v1)'s shape: both relative terms, distances clamped at 8, no token types
        cfg.update(type_vocab_size=0, layer_norm_eps=1e-7, relative_attention=True, pos_att_type=["c2p", "p2c"],
                   max_relative_positions=8, position_biased_input=False, pooler_hidden_size=64, pooler_hidden_act="gelu")
    elif arch == "mpnet":  # relative-position bias (32 buckets: the tests' 12-25 tokens reach its log buckets); no token types
        cfg.update(layer_norm_eps=1e-12, relative_attention_num_buckets=32)
    elif arch == "nomic_bert":  # SwiGLU, rotary at nomic-embed's base; no position embeddings
        cfg.update(type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="silu",
                   rope_parameters={"rope_type": "default", "rope_theta": 1000.0})
    elif arch == "gte":  # gte-multilingual's shape: XLM-R's tokenizer, one token type, rotary, gated GELU MLP
        cfg.update(type_vocab_size=1, layer_norm_eps=1e-12, max_position_embeddings=8192,
                   rope_parameters={"rope_type": "default", "rope_theta": 1000.0})
    elif arch == "jina_embeddings_v3":  # XLM-R's tokenizer and one token type, rotary at its base of 20,000
        cfg.update(type_vocab_size=1, layer_norm_eps=1e-5, max_position_embeddings=8194,
                   rope_parameters={"rope_type": "default", "rope_theta": 20000.0})
    elif arch == "ernie":  # ERNIE 3.0's shape: BERT's, four token types, a task-type embedding
        cfg.update(type_vocab_size=4, layer_norm_eps=1e-12, use_task_id=True, task_type_vocab_size=3)
    elif arch == "albert":  # embeddings of 32 widened to 64, one layer's weights run twice, gelu_new
        cfg.update(type_vocab_size=2, layer_norm_eps=1e-12, embedding_size=32, hidden_act="gelu_new",
                   num_hidden_groups=1, inner_group_num=1)
    elif arch in ("bert", "electra", "megatron_bert"):
        cfg.update(type_vocab_size=2, layer_norm_eps=1e-12)
        if arch == "electra":
            cfg["embedding_size"] = 32  # narrower than hidden: embeddings_project is exercised
    elif arch == "roformer":  # rotary q/k instead of position embeddings; embeddings of 32 widened to 64
        cfg.update(type_vocab_size=2, layer_norm_eps=1e-12, embedding_size=32)
    elif arch == "mobilebert":  # trigram embeddings of 16, bottlenecks of 32 (4 heads of 8), 3 FFNs a layer, NoNorm
        cfg.update(type_vocab_size=2, embedding_size=16, true_hidden_size=32, intra_bottleneck_size=32,
                   num_feedforward_networks=3, intermediate_size=64, hidden_act="relu", classifier_activation=True)
    else:  # XLM-R: one token type; positions start at pad_token_id + 1
        cfg.update(
            type_vocab_size=1,
            layer_norm_eps=1e-5,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return cfg


def rembert_config(tokenizer, arch_name: str) -> dict:
    """RemBERT's shape at the tiny size: embeddings 32 wide (widened to 64), output embeddings 48, token types."""
    return dict(vocab_size=round_up(len(tokenizer), 64), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=128, input_embedding_size=32, output_embedding_size=48, max_position_embeddings=512,
                hidden_act="gelu", initializer_range=0.1, pad_token_id=tokenizer.pad_token_id, architectures=[arch_name])


def esm_config(tokenizer, arch_name: str) -> dict:
    """ESM-2's shape at the tiny size: rotary, token dropout's scaling, the final LayerNorm, no token types."""
    return dict(vocab_size=round_up(len(tokenizer), 64), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=128, max_position_embeddings=1026, position_embedding_type="rotary",
                token_dropout=True, emb_layer_norm_before=False, layer_norm_eps=1e-5, initializer_range=0.1,
                pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id,
                architectures=[arch_name])


def esmc_config(tokenizer, arch_name: str) -> dict:
    """ESM C's shape at the tiny size: 2 layers of 64 (4 heads), SwiGLU of 128, rotary; ESM's special ids."""
    return dict(vocab_size=round_up(len(tokenizer), 64), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=4, intermediate_size=128, initializer_range=0.1, pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.eos_token_id,
                mask_token_id=tokenizer.mask_token_id, architectures=[arch_name])


def bart_config(tokenizer) -> dict:
    """BART's shape at the tiny size: 2 encoder and 2 decoder layers of 64 (4 heads, feed-forward 128),
    exact GELU, token embeddings scaled by sqrt(d_model) (so a loader that drops the scale is caught)."""
    return dict(vocab_size=round_up(len(tokenizer), 64), d_model=64, encoder_layers=2, decoder_layers=2,
                encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                max_position_embeddings=512, activation_function="gelu", init_std=0.1, scale_embedding=True,
                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
                forced_eos_token_id=tokenizer.eos_token_id, architectures=["BartForSequenceClassification"])


def modernbert_config(arch_name: str, tokenizer) -> dict:
    """One global and one local layer; the local one sees 3 positions either side (local_attention
    6), so test sequences cross its edge; the two rotary bases differ as in the real checkpoints."""
    return dict(
        **tiny_shape(tokenizer), max_position_embeddings=512, global_attn_every_n_layers=2, local_attention=6,
        rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
        pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id, architectures=[arch_name],
    )
