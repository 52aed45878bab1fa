"""Checkpoints in PyTorch's format (``pytorch_model.bin``, sharded or not, zip or pre-1.6 pickle),
which transformers wrote by default before 4.35: the same tensors as their safetensors twin, the
same scores as transformers, safetensors preferred where both exist, and clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from hf_reference import assert_scores_close, hf_scores
from multiscore.model_executor.checkpoint_files import checkpoint_files, iter_checkpoint
from worker_batches import mixed_inputs, score_both_ways, worker


def _as_bin(src, dst, shards: int = 1, legacy: bool = False):
    """A copy of checkpoint ``src`` at ``dst`` with its safetensors rewritten as pytorch_model.bin
    (``shards`` > 1: pytorch_model-0000i-of-0000n.bin and pytorch_model.bin.index.json)."""
    shutil.copytree(src, dst)
    tensors = load_file(dst / "model.safetensors")
    (dst / "model.safetensors").unlink()
    if shards == 1:
        torch.save(tensors, dst / "pytorch_model.bin", _use_new_zipfile_serialization=not legacy)
        return tensors
    names = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        file = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
        part = {n: tensors[n] for n in names[i::shards]}
        torch.save(part, dst / file)
        weight_map.update(dict.fromkeys(part, file))
    (dst / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return tensors


@pytest.mark.parametrize("shards, legacy", [(1, False), (1, True), (3, False)])
def test_bin_checkpoints_hold_the_safetensors_tensors(tiny_model, tmp_path, shards, legacy):
    expected = _as_bin(tiny_model("bert", "seqcls", num_labels=1), tmp_path / "bin", shards, legacy)
    assert len(checkpoint_files(str(tmp_path / "bin"))) == shards
    got = dict(iter_checkpoint(str(tmp_path / "bin")))
    assert sorted(got) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), name


def test_a_bin_only_decoder_scores_as_transformers_does(tiny_model, tmp_path):
    path = tmp_path / "bin"
    _as_bin(tiny_model("qwen3", "seqcls"), path, shards=2)
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(path), query, items, None)
    ref = hf_scores(path, query, items, None)  # transformers reads the .bin files itself
    assert_scores_close(single, ref)
    assert_scores_close(mis, ref)


def test_safetensors_win_where_both_formats_exist(tiny_model, tmp_path):
    path = tmp_path / "both"
    shutil.copytree(tiny_model("bert", "seqcls", num_labels=1), path)
    tensors = load_file(path / "model.safetensors")
    torch.save({n: torch.zeros_like(t) for n, t in tensors.items()}, path / "pytorch_model.bin")
    assert checkpoint_files(str(path)) == [str(path / "model.safetensors")]
    assert torch.equal(dict(iter_checkpoint(str(path)))["classifier.weight"], tensors["classifier.weight"])


def test_a_directory_without_weights_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"no weights in .*: expected \*\.safetensors or pytorch_model\.bin"):
        checkpoint_files(str(tmp_path))


class NotATensor:
    pass


def test_a_bin_holding_other_objects_is_refused_not_unpickled(tmp_path):
    """weights_only: an arbitrary pickled object (which could run code when unpickled) is refused."""
    torch.save({"weight": torch.ones(2), "payload": NotATensor()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="as plain tensors"):
        dict(iter_checkpoint(str(tmp_path)))


def test_a_bin_holding_no_state_dict_is_refused(tmp_path):
    torch.save([torch.ones(2)], tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        dict(iter_checkpoint(str(tmp_path)))


def test_a_hub_checkpoint_without_safetensors_fetches_its_bin_files(tmp_path, monkeypatch):
    """No network here: huggingface_hub's snapshot_download is replaced by one that 'downloads' the
    allowed files of a local repository. The .bin files are fetched only when no safetensors came."""
    import fnmatch

    import huggingface_hub

    from multiscore.configs.model_config import resolve_model_path

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.json").write_text("{}")
    torch.save({"w": torch.ones(1)}, repo / "pytorch_model.bin")
    snapshot, calls = tmp_path / "snapshot", []

    revisions = []

    def fake_snapshot_download(repo_id, allow_patterns, revision=None):
        calls.append(allow_patterns)
        revisions.append(revision)
        snapshot.mkdir(exist_ok=True)
        for f in repo.iterdir():
            if any(fnmatch.fnmatch(f.name, p) for p in allow_patterns):
                shutil.copy(f, snapshot / f.name)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert resolve_model_path("org/old-reranker") == str(snapshot)
    assert len(calls) == 2 and "*.safetensors" in calls[0]
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "pytorch_model.bin"]
    calls.clear()
    torch.save({"w": torch.ones(1)}, repo / "model.safetensors")  # not a real safetensors file; only its name counts
    shutil.rmtree(snapshot)
    resolve_model_path("org/old-reranker", revision="refs/pr/5")  # vLLM's and TEI's --revision
    assert len(calls) == 1  # safetensors came: the .bin is not fetched
    assert revisions == [None, None, "refs/pr/5"]
