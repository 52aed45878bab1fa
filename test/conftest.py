"""Shared pytest fixtures: tiny random checkpoints made at test time, and the `gpu` marker skip."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

_ROOT = pathlib.Path(__file__).resolve().parent.parent
for _path in (_ROOT / "scripts", _ROOT / "test"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch is a hard dependency
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        # The marker itself: ``"gpu" in item.keywords`` also matched every test under test/gpu/ and
        # any test whose module or name holds "gpu", so CPU tests could not live beside GPU ones.
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Factory ``tiny_model(arch="qwen3", head="seqcls", **kw) -> Path``.

    Builds each distinct checkpoint once per session (``kw`` go to ``make_tiny_model``:
    ``num_labels``, ``seed``, ``max_shard_size``, config overrides).
    """
    from make_tiny_model import make_tiny_model

    cache: dict[str, pathlib.Path] = {}

    def factory(arch: str = "qwen3", head: str = "seqcls", **kw) -> pathlib.Path:
        key = json.dumps({"arch": arch, "head": head, **kw}, sort_keys=True, default=str)
        if key not in cache:
            name = f"{arch}-{head}-{len(cache)}"
            out = tmp_path_factory.mktemp(name)
            cache[key] = make_tiny_model(out, arch=arch, head=head, **kw)
        return cache[key]

    return factory
