"""The prefix cache's slot pool and radix tree: matching, splitting, insertion with duplicates,
locks and LRU eviction."""

import torch

from multiscore.model_executor.prefix_cache import KVPool, RadixTree


def _tree(slots=32):
    return RadixTree(KVPool(layer_shapes=[(1, 4), (1, 4)], num_slots=slots, dtype=torch.float32,
                            device=torch.device("cpu")))


def _add(tree, tokens, start=0):
    slots = tree.pool.alloc(len(tokens) - start)
    tree.insert(tokens, slots, start)
    return slots


def test_match_finds_the_longest_cached_prefix_and_its_slots():
    tree = _tree()
    slots = _add(tree, [1, 2, 3, 4])
    m = tree.match([1, 2, 3, 4, 5])
    assert m.length == 4 and m.slots.tolist() == slots.tolist()
    m = tree.match([1, 2, 9])  # ends inside the edge: the edge splits there
    assert m.length == 2 and m.slots.tolist() == slots[:2].tolist() and m.node.tokens == (1, 2)
    assert tree.match([1, 2, 3, 4]).slots.tolist() == slots.tolist()  # the split keeps every slot
    assert tree.match([7]).length == 0 and tree.match([]).length == 0


def test_insert_branches_and_frees_the_slots_of_a_part_cached_meanwhile():
    tree = _tree(slots=16)
    a = _add(tree, [1, 2, 3, 4])
    b = _add(tree, [1, 2, 5, 6])  # shares [1, 2]: its two new slots for them go back to the pool
    assert tree.cached_tokens == 6 and tree.pool.num_free == 16 - 6
    assert tree.match([1, 2, 5, 6]).slots.tolist() == a[:2].tolist() + b[2:].tolist()
    m = tree.match([1, 2, 3, 4, 7])
    tree.lock(m.node)
    c = _add(tree, [1, 2, 3, 4, 7, 8], start=4)  # extends a locked match
    tree.unlock(m.node)
    assert tree.match([1, 2, 3, 4, 7, 8]).slots.tolist() == a.tolist() + c.tolist()


def test_eviction_frees_least_recently_used_unlocked_leaves_only():
    tree = _tree(slots=8)
    for tokens in ([1, 2], [3, 4], [5, 6]):
        _add(tree, tokens)
    tree.match([1, 2])  # [3, 4] is now the least recently used
    assert tree.evict(2) == 2
    assert [tree.match(t).length for t in ([1, 2], [3, 4], [5, 6])] == [2, 0, 2]
    locked = tree.match([5, 6]).node
    tree.lock(locked)
    assert tree.evict(100) == 2  # only [1, 2]: a running batch reads [5, 6]
    assert tree.match([5, 6]).length == 2 and tree.pool.num_free == 6
    tree.unlock(locked)
    assert tree.evict(100) == 2 and tree.pool.num_free == 8


def test_eviction_reaches_a_parent_its_children_left_before_a_newer_leaf():
    tree = _tree(slots=8)
    for tokens in ([1, 2, 3, 4], [1, 2, 5, 6], [9, 9]):  # [1, 2] is shared, then a leaf once both go
        _add(tree, tokens)
    assert tree.evict(6) == 6
    assert [tree.match(t).length for t in ([1, 2], [9, 9])] == [0, 2]  # [1, 2] was used before [9, 9]


def test_flush_forgets_everything_unlocked():
    tree = _tree()
    _add(tree, [1, 2, 3])
    keep = tree.match([1, 2, 3]).node
    _add(tree, [9, 9])
    tree.lock(keep)
    tree.flush()
    assert tree.match([9, 9]).length == 0 and tree.match([1, 2, 3]).length == 3
    tree.unlock(keep)
    tree.flush()
    assert tree.cached_tokens == 0 and tree.pool.num_free == 32
