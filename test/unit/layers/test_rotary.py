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
