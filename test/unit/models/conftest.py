"""The model tests run torch on one thread: small packed batches gain nothing from more, and the
suite shares two cores."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
