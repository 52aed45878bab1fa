"""gc_heap.py: after start-up, the collector stops walking the objects alive then (in a fresh
interpreter, so that this test process's heap is left as it is)."""

import subprocess
import sys
import textwrap

from multiscore.gc_heap import gc_freeze_state

_CHILD = textwrap.dedent("""
    import gc, weakref
    import torch  # a start-up heap of the size the server's has
    from multiscore.gc_heap import freeze_gc_heap

    class Node:
        pass

    a, b = Node(), Node()
    a.peer, b.peer = b, a  # cyclic garbage from start-up: collected before the freeze, not frozen
    dead = weakref.ref(a)
    del a, b
    walked_before = len(gc.get_objects())
    frozen = freeze_gc_heap("test process")
    walked_after = len(gc.get_objects())
    print(frozen, gc.get_freeze_count(), walked_before, walked_after, dead() is None)
""")


def test_freeze_moves_the_start_up_heap_out_of_the_collectors_walks():
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, check=True)
    frozen, count, walked_before, walked_after, collected = out.stdout.split()
    assert int(frozen) == int(count) > 10_000
    assert int(walked_after) < int(walked_before) // 20  # what a full collection still walks
    assert collected == "True"


def test_gc_freeze_state_says_what_is_frozen_where():
    assert gc_freeze_state(True, 0) == "off: --disable-gc-freeze"
    assert gc_freeze_state(False, 1234).startswith("on: 1234 start-up objects frozen in the model process, ")
