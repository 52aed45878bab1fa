"""Servers shared by several e2e modules (one process for the whole session)."""

from __future__ import annotations

import pytest

from make_tiny_model import delimiter_id
from proc_utils import Server


@pytest.fixture(scope="session")
def reranker_mis_server(tiny_model):
    """A tiny one-label Qwen3 classifier with MIS on: the fuzz and regression tests hammer it."""
    path = tiny_model("qwen3", "seqcls", num_labels=1)
    srv = Server(path, "--multi-item-scoring-delimiter", str(delimiter_id(path)), "--num-threads", "1")
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.output()[-4000:]
