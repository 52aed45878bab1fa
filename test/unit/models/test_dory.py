"""Dory against transformers, single-item and MIS: nGPT's unit-sphere states and interpolated residuals, its scaled
queries and gates, two recurrent layers looped twice between an input and an output layer, per-token logit scales;
and the hub's two-blocks-a-layer names."""

import shutil

from safetensors.torch import load_file, save_file

from worker_batches import assert_both_ways_equal_transformers, worker


def test_dory_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("dory", "causal")
    w = worker(path)
    assert [layer.self_attn.window for layer in w.model.model.layers] == [4, 4, 4, None]
    assert w.prefix_cache is None
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_the_hubs_layer_pairs_load(tiny_model, tmp_path):
    """``backbone.layers.{2i}.mixer`` (attention, ``g_proj``), ``{2i+1}.mixer`` (MLP), ``attn_alpha`` / ``mlp_alpha``."""
    path = tiny_model("dory", "causal")
    hub = tmp_path / "hub"
    shutil.copytree(path, hub)
    tensors = {}
    for name, t in load_file(str(path / "model.safetensors")).items():  # transformers saves backbone.layers.{i}.self_attn ...
        if name.startswith("backbone.layers."):
            i, rest = name[len("backbone.layers."):].split(".", 1)
            part, _, tail = rest.partition(".")
            if part == "self_attn":
                name = f"backbone.layers.{2 * int(i)}.mixer.{tail}"
            elif part == "mlp":
                name = f"backbone.layers.{2 * int(i) + 1}.mixer.{tail}"
            else:
                name = f"backbone.layers.{2 * int(i) + (part == 'lambda_2')}.{'attn_alpha' if part == 'lambda_1' else 'mlp_alpha'}"
        tensors[name] = t
    assert "backbone.layers.3.mixer.up_proj.weight" in tensors and "backbone.layers.2.attn_alpha" in tensors
    save_file(tensors, str(hub / "model.safetensors"), metadata={"format": "pt"})
    assert_both_ways_equal_transformers(hub, "causal", seed=3, reference=path)
