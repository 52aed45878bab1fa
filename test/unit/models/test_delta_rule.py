"""The chunked gated delta rule (and gated linear attention, Mamba2's) equals its recurrence run one
step at a time (written out here from its definition), across chunk borders, with a partial last
chunk, from a given state, and with steps that must leave the state as it was."""

import pytest
import torch

from multiscore.models.delta_rule import chunked_delta_rule, chunked_linear_attention


def _step_by_step(q, k, v, beta, log_decay, state):
    """The definition: S <- α S; u = β (v − Sᵀk) (beta None: u = v); S <- S + k uᵀ; o = Sᵀq, one step at a time."""
    state, outputs = state.clone(), []
    for t in range(k.shape[1]):
        state = state * log_decay[:, t, None, None].exp()
        u = v[:, t] if beta is None else beta[:, t, None] * (v[:, t] - torch.einsum("nkv,nk->nv", state, k[:, t]))
        state = state + k[:, t, :, None] * u[:, None, :]
        outputs.append(torch.einsum("nkv,nk->nv", state, q[:, t]))
    return torch.stack(outputs, dim=1), state


def _inputs(N=6, L=23, Dk=8, Dv=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, k = (torch.nn.functional.normalize(torch.randn(N, L, Dk, generator=gen), dim=-1) for _ in range(2))
    v = torch.randn(N, L, Dv, generator=gen)
    beta = torch.rand(N, L, generator=gen)
    log_decay = -torch.rand(N, L, generator=gen) * 2
    state = torch.randn(N, Dk, Dv, generator=gen)
    return q, k, v, beta, log_decay, state


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 23, 64])
def test_chunks_equal_the_step_by_step_recurrence(chunk_size):
    inputs = _inputs()
    want_out, want_state = _step_by_step(*inputs)
    out, state = chunked_delta_rule(*inputs, chunk_size=chunk_size)
    assert out.shape == want_out.shape and state.shape == want_state.shape
    torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state, want_state, atol=1e-5, rtol=1e-5)


def test_steps_with_no_write_and_no_decay_leave_the_state_unchanged():
    q, k, v, beta, log_decay, state = _inputs(L=10)
    beta[:, 6:], log_decay[:, 6:] = 0, 0  # a sequence padded after its sixth step
    _, padded_end = chunked_delta_rule(q, k, v, beta, log_decay, state, chunk_size=4)
    _, real_end = _step_by_step(q[:, :6], k[:, :6], v[:, :6], beta[:, :6], log_decay[:, :6], state)
    torch.testing.assert_close(padded_end, real_end, atol=1e-5, rtol=1e-5)


def test_the_state_carries_between_calls():
    q, k, v, beta, log_decay, state = _inputs(L=20)
    first_out, middle = chunked_delta_rule(q[:, :9], k[:, :9], v[:, :9], beta[:, :9], log_decay[:, :9], state, 4)
    second_out, end = chunked_delta_rule(q[:, 9:], k[:, 9:], v[:, 9:], beta[:, 9:], log_decay[:, 9:], middle, 4)
    want_out, want_state = _step_by_step(q, k, v, beta, log_decay, state)
    torch.testing.assert_close(torch.cat([first_out, second_out], dim=1), want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(end, want_state, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 5, 64])
def test_linear_attention_chunks_equal_the_step_by_step_recurrence(chunk_size):
    q, k, v, _, log_decay, state = _inputs(L=17)
    want_out, want_state = _step_by_step(q, k, v, None, log_decay, state)
    out, end = chunked_linear_attention(q, k, v, log_decay, state, chunk_size)
    torch.testing.assert_close(out, want_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(end, want_state, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 23, 64])
def test_a_decay_per_key_dimension_equals_kimis_recurrence(chunk_size):
    """KDA's decay per key dimension (strong ones too: γ over a chunk far below float32's range), against
    transformers' own step-by-step KDA (no q/k normalisation or scale: ours takes them done)."""
    from transformers.models.kimi_linear.modeling_kimi_linear import recurrent_kimi_delta_attention

    q, k, v, beta, _, state = _inputs()
    gen = torch.Generator().manual_seed(3)
    log_decay = -torch.rand(*k.shape, generator=gen) * torch.tensor([0.1, 1.0, 5.0, 20.0] * 2)  # [N, L, Dk]
    out, final = chunked_delta_rule(q, k, v, beta, log_decay, state, chunk_size=chunk_size)
    # transformers': [B, L, H, D] with B = 1, H = N, its query scaled by Dk ** -0.5 (undone here)
    as_heads = lambda t: t.transpose(0, 1)[None]  # noqa: E731
    want, want_final = recurrent_kimi_delta_attention(as_heads(q) * q.shape[-1] ** 0.5, as_heads(k), as_heads(v),
                                                      as_heads(log_decay), beta.transpose(0, 1)[None], state[None],
                                                      output_final_state=True)
    torch.testing.assert_close(out, want[0].transpose(0, 1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(final, want_final[0], atol=1e-5, rtol=1e-5)
