"""Keeping the garbage collector off the start-up heap (vLLM freezes it at start-up; SGLang has /freeze_gc).

After imports and the model load a process holds some 200,000 long-lived Python objects (torch,
transformers, the model's modules). CPython's oldest-generation collection walks every one of them,
and a request that allocates many objects (the 30,000 item lists of a large request, or its
30,000 result rows) sets one off: measured here, a 150 ms pause on the event loop that serves every
other request. ``gc.freeze()`` moves the objects alive now to a permanent generation that
collections skip; the cost is that cyclic garbage among *those* objects is never collected, which
for objects that live as long as the process is no cost at all.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_gc_heap(where: str) -> int:
    """Collect once, then freeze every live object; -> how many objects are frozen in this process."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("garbage collector: %d start-up objects of the %s frozen (--disable-gc-freeze to keep them)", frozen, where)
    return frozen


def freeze_after_start(disabled: bool, where: str) -> int:
    """What a process of ours (server, batch runner, Ray replica) does once it is up; 0 when disabled."""
    return 0 if disabled else freeze_gc_heap(where)


def gc_freeze_state(disabled: bool, model_process_frozen: int) -> str:
    """For /get_server_info: what is frozen where (this process's count is read now)."""
    if disabled:
        return "off: --disable-gc-freeze"
    return (f"on: {model_process_frozen} start-up objects frozen in the model process, "
            f"{gc.get_freeze_count()} in this process")
