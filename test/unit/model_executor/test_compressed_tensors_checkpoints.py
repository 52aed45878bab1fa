"""compressed-tensors checkpoints (RedHatAI's -FP8-dynamic, -FP8-block, -quantized.w8a8, -W8A16 layouts, and the
packed -quantized.w4a16 one), written here from tiny checkpoints (scripts/quantized_checkpoints.py), score as
transformers with compressed-tensors scores them: weights dequantized as they load, and (W8A8) each product's input
quantized per token. Single-item and MIS; the refusals."""

import json

import pytest
import torch

from quantized_checkpoints import ACTIVATION_GROUP, write_compressed_tensors, write_pack_quantized
from worker_batches import LABELS, mixed_inputs, score_both_ways, worker

# The reference: transformers runs these checkpoints through the compressed-tensors package (the test extra).
GROUP = ACTIVATION_GROUP


CASES = [("qwen3", "seqcls", "float", "channel", True), ("llama", "causal", "float", "channel", True),
         ("qwen3", "causal", "float", "tensor", True), ("qwen3", "seqcls", "int", "channel", True),
         ("qwen3", "seqcls", "float", "channel", False), ("qwen3", "causal", "float", "block", True)]


def _without_input_rounding(load_model):
    """transformers' model as compressed-tensors runs it, but for the rounding of each product's input."""
    def load(*args, **kwargs):
        model = load_model(*args, **kwargs)
        for module in model.modules():
            scheme = getattr(module, "quantization_scheme", None)
            if scheme is not None:
                scheme.input_activations = None
        return model
    return load


@pytest.mark.parametrize("arch, head, kind, strategy, activations", CASES,
                         ids=["fp8-dynamic", "fp8-dynamic-llama", "fp8-tensor-weights", "int8-w8a8", "fp8-w8a16", "fp8-block"])
def test_a_compressed_tensors_checkpoint_scores_as_transformers(tiny_model, tmp_path, monkeypatch, arch, head, kind,
                                                                strategy, activations):
    """The weights as transformers with compressed-tensors reads them, fp32 <= 1e-5, single-item and MIS.

    W8A8 also rounds every product's input, and its scores jump where an input crosses a rounding boundary: measured
    here, a 1e-6 relative change of the embeddings moves transformers' own int8 scores by up to 3e-2, so a 1e-7
    difference between two kernels' accumulations (an AVX-512 CPU's, say) crosses one. So a W8A8 checkpoint's
    weights are compared weight-only (both sides without the input rounding: compressed-tensors' modules with their
    input scheme removed), and the rounding, input by input, against compressed-tensors' own (the test below)."""
    import hf_reference
    from hf_reference import hf_scores

    path = write_compressed_tensors(tiny_model(arch, head), tmp_path / "ct", kind, strategy, activations)
    w = worker(path)
    projection = w.model.model.layers[0].self_attn.qkv_proj
    assert projection.input_quant == ((kind, GROUP if strategy == "block" else None) if activations else None)
    query, items = mixed_inputs(seed=4)
    labels = LABELS if head == "causal" else None
    score = lambda w: [torch.tensor(s) for s in score_both_ways(w, query, items, labels, apply_softmax=labels is not None)]  # noqa: E731
    served = score(w)[0]
    if activations:  # both sides without the input rounding
        for module in w.model.modules():
            if getattr(module, "input_quant", None) is not None:
                module.input_quant = None
        monkeypatch.setattr(hf_reference, "load_model", _without_input_rounding(hf_reference.load_model))
    reference = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=labels is not None))
    for got in score(w):  # single-item, MIS
        torch.testing.assert_close(got, reference, atol=1e-5, rtol=0)
    # what was served is the quantized model: the original's scores differ, and (W8A8) the rounding moved them
    assert (score(worker(tiny_model(arch, head)))[0] - reference).abs().max() > 1e-2
    if activations:
        assert (served - reference).abs().max() > 1e-2


@pytest.mark.parametrize("kind, strategy", [("float", "channel"), ("float", "tensor"), ("int", "channel"), ("float", "block")])
def test_each_products_input_rounds_as_compressed_tensors_rounds_it(tiny_model, tmp_path, kind, strategy):
    """Our per-token (per-group) rounding of a product's input equals compressed-tensors' forward on the reference
    model's own module, to the bit: rows of different sizes, a zero row, values at the 8-bit range's ends."""
    from compressed_tensors.quantization.lifecycle.forward import forward_quantize
    from hf_reference import load_model

    from multiscore.layers.activation_quant import fake_quantize_per_token

    path = write_compressed_tensors(tiny_model("qwen3", "seqcls"), tmp_path / "ct", kind, strategy)
    module = load_model(str(path)).model.layers[0].self_attn.q_proj
    ours = worker(path).model.model.layers[0].self_attn.qkv_proj.input_quant  # (kind, group)
    torch.manual_seed(0)
    x = torch.randn(1, 6, 64) * torch.tensor([1e-3, 0.5, 1.0, 3.0, 100.0, 0.0])[None, :, None]
    x[0, 2, :4] = torch.tensor([-448.0, 448.0, 1e-7, -1e-7])
    expected = forward_quantize(module, x, "input", module.quantization_scheme.input_activations)
    assert torch.equal(fake_quantize_per_token(x[0], *ours), expected[0])
    assert not torch.equal(expected[0], x[0])


def test_activation_quantization_rounds_each_row_by_its_own_scale():
    from multiscore.layers.activation_quant import fake_quantize_per_token

    x = torch.tensor([[1.0, -4.0, 0.3], [0.0, 0.0, 0.0], [2.0, 0.5, 0.25]])
    got = fake_quantize_per_token(x, "int")
    # row 0: scale 4 / 127.5; row 2: 2 / 127.5; a zero row stays zero
    for row, scale in ((0, 4 / 127.5), (2, 2 / 127.5)):
        torch.testing.assert_close(got[row], torch.round(x[row] / scale) * scale)
    assert torch.equal(got[1], torch.zeros(3))
    torch.testing.assert_close(fake_quantize_per_token(x, "float")[0], x[0], atol=0.13, rtol=0.07)
    # per group of columns: [1, 100] and [0.5, 0.25] each by their own scale
    y = torch.tensor([[1.0, 100.0, 0.5, 0.25]])
    grouped = fake_quantize_per_token(y, "int", group=2)
    torch.testing.assert_close(grouped[0, 2:], torch.round(y[0, 2:] / (0.5 / 127.5)) * (0.5 / 127.5))
    assert (fake_quantize_per_token(y, "int")[0, 3] - 0.25).abs() > 0.1  # one scale for the row rounds 0.25 away


@pytest.mark.parametrize("change, message", [
    ({"format": "marlin-24"}, "format 'marlin-24' is not supported"),
    ({"format": "pack-quantized"}, "pack-quantized weights quantized as 8-bit float, channel, symmetric"),
    ({"kv_cache_scheme": {"num_bits": 8}}, "kv_cache_scheme"),
    ({"weights": {"num_bits": 4}}, "weights quantized as 4-bit float, channel, symmetric, static are not supported"),
    ({"input_activations": {"dynamic": False, "strategy": "tensor"}}, "input_activations quantized as 8-bit float, tensor"),
])
def test_other_schemes_are_refused_before_loading(tiny_model, tmp_path, change, message):
    path = write_compressed_tensors(tiny_model("qwen3", "seqcls"), tmp_path / "ct")
    config = json.loads((path / "config.json").read_text())
    quant = config["quantization_config"]
    group = quant["config_groups"]["group_0"]
    for key, value in change.items():
        if key in group:
            group[key] = {**(group[key] or {}), **value}
        else:
            quant[key] = value
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        worker(path)


@pytest.mark.parametrize("arch, head, bits, group", [("qwen3", "seqcls", 4, 16), ("llama", "causal", 4, 16),
                                                      ("qwen3", "causal", 8, 16), ("qwen3", "seqcls", 4, None)],
                         ids=["w4a16-group", "w4a16-llama", "w8a16-packed", "w4a16-channel"])
def test_a_packed_checkpoint_scores_as_transformers(tiny_model, tmp_path, arch, head, bits, group):
    """pack-quantized (W4A16): integers packed 8 (or 4) to an int32 word, a bfloat16 scale per group of 16 columns
    (or per row), unpacked and dequantized in the scale's dtype as they load: fp32 <= 1e-5, single-item and MIS."""
    from hf_reference import hf_scores

    path = write_pack_quantized(tiny_model(arch, head), tmp_path / "packed", bits, group)
    w = worker(path)
    assert w.model.model.layers[0].self_attn.qkv_proj.input_quant is None
    query, items = mixed_inputs(seed=4)
    labels = LABELS if head == "causal" else None
    reference = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=labels is not None))
    for got in score_both_ways(w, query, items, labels, apply_softmax=labels is not None):
        torch.testing.assert_close(torch.tensor(got), reference, atol=1e-5, rtol=0)
    original = score_both_ways(worker(tiny_model(arch, head)), query, items, labels, apply_softmax=labels is not None)[0]
    assert (torch.tensor(original) - reference).abs().max() > (1e-3 if bits == 8 else 1e-2)  # the quantized model


def test_unpacking_reads_compressed_tensors_layout():
    """Our unpacking against compressed-tensors' own packing, for 2-, 4- and 8-bit values and a row whose last word
    is partly empty."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    from multiscore.model_executor.compressed_tensors import unpack_int32

    torch.manual_seed(0)
    for bits in (2, 4, 8):
        values = torch.randint(-(1 << (bits - 1)), 1 << (bits - 1), (5, 40), dtype=torch.int8)
        assert torch.equal(unpack_int32(pack_to_int32(values, bits), bits, 40), values)


@pytest.mark.parametrize("change, message", [
    ({"symmetric": False}, "asymmetric"),
    ({"actorder": "group"}, "actorder group"),
    ({"num_bits": 3}, "3-bit int"),
    ({"input_activations": {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True}}, "quantized activations"),
])
def test_other_packed_schemes_are_refused_before_loading(tiny_model, tmp_path, change, message):
    path = write_pack_quantized(tiny_model("qwen3", "seqcls"), tmp_path / "packed")
    config = json.loads((path / "config.json").read_text())
    group = config["quantization_config"]["config_groups"]["group_0"]
    for key, value in change.items():
        (group if key == "input_activations" else group["weights"])[key] = value
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        worker(path)
