import torch

from multiscore.layers.rotary import apply_rotary


def test_apply_rotary_equals_hf_rotate_half_formula():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 8)  # [T, heads, head_dim]
    freqs = torch.randn(5, 4)
    cos, sin = freqs.cos()[:, None], freqs.sin()[:, None]  # [T, 1, hd/2]
    cos_full, sin_full = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
    rotate_half = torch.cat([-x[..., 4:], x[..., :4]], -1)
    torch.testing.assert_close(apply_rotary(x, cos, sin), x * cos_full + rotate_half * sin_full)


def _inv_freq(base, head_dim=8):
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))


def test_per_layer_type_bases_from_transformers_4_and_5_configs():
    """Gemma3 / ModernBERT: the global and the sliding layers have their own bases, named per layer
    type in transformers 5 (``rope_parameters``) and beside ``rope_theta`` in 4.x configs."""
    from types import SimpleNamespace

    from multiscore.layers.rotary import compute_inv_freq, per_layer_type_rope

    v5 = SimpleNamespace(rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                          "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
    gemma3_v4 = SimpleNamespace(rope_parameters=None, rope_scaling=None, rope_theta=1e6, rope_local_base_freq=1e4)
    modernbert_v4 = SimpleNamespace(rope_parameters=None, rope_scaling=None, global_rope_theta=1e6, local_rope_theta=1e4)
    plain = SimpleNamespace(rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    for config in (v5, gemma3_v4, modernbert_v4):
        assert per_layer_type_rope(config)
        torch.testing.assert_close(compute_inv_freq(config, 8, "full_attention")[0], _inv_freq(1e6))
        torch.testing.assert_close(compute_inv_freq(config, 8, "sliding_attention")[0], _inv_freq(1e4))
    assert not per_layer_type_rope(plain)
    torch.testing.assert_close(compute_inv_freq(plain, 8)[0], _inv_freq(1e6))


def test_partial_rotary_rotates_the_first_dims_only_eager_and_compiled_form():
    from multiscore.layers.fused_ops import rotate

    torch.manual_seed(1)
    x = torch.randn(5, 3, 8)
    freqs = torch.randn(5, 3)  # rot = 6 of 8 dims
    cos, sin = freqs.cos()[:, None], freqs.sin()[:, None]
    rot = x[..., :6]
    rotate_half = torch.cat([-rot[..., 3:], rot[..., :3]], -1)
    expected = torch.cat([rot * torch.cat([cos, cos], -1) + rotate_half * torch.cat([sin, sin], -1), x[..., 6:]], -1)
    torch.testing.assert_close(apply_rotary(x, cos, sin), expected)
    torch.testing.assert_close(rotate(x, cos, sin), expected)
