"""Prefix cache: per-layer keys/values of token prefixes, shared across requests (DESIGN.md §4's
query, computed once and kept).

- ``KVPool``: fixed slots, one per cached token: ``k[layer]``/``v[layer]`` [slots, kv_heads, head_dim],
  each layer its own shape (Gemma 4's global layers have fewer, wider heads than its sliding ones).
  Allocated once at its byte budget (``--prefix-cache-size-mb``); torch.empty touches no page until
  a slot is written, so an unused budget costs no memory.
- ``RadixTree``: token ids -> slots, one edge per run of tokens (SGLang's radix cache, token pages
  of one). ``match`` finds the longest cached prefix; ``insert`` adds a computed one; entries a
  running batch reads are locked and never evicted; ``evict`` frees the least recently used
  unlocked leaves. The scheduler process is single-threaded, so no lock guards the tree itself.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Optional

import torch


class KVPool:
    def __init__(self, layer_shapes: list[tuple[int, int]], num_slots: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        """``layer_shapes``: (kv_heads, head_dim) of each layer that computes keys and values."""
        self.layer_shapes = list(layer_shapes)
        self.k = [torch.empty(num_slots, heads, dim, dtype=dtype, device=device) for heads, dim in self.layer_shapes]
        self.v = [torch.empty_like(k) for k in self.k]
        self.dtype, self.device = dtype, device
        self.num_slots = num_slots
        self._free = torch.arange(num_slots - 1, -1, -1)  # a stack: the lowest slots are used first
        self._num_free = num_slots

    @staticmethod
    def bytes_per_token(layer_shapes: list[tuple[int, int]], dtype: torch.dtype) -> int:
        return 2 * sum(heads * dim for heads, dim in layer_shapes) * dtype.itemsize

    @property
    def num_free(self) -> int:
        return self._num_free

    def alloc(self, n: int) -> Optional[torch.Tensor]:
        """n free slots [n] (long, CPU), or None when fewer are free."""
        if n > self._num_free:
            return None
        self._num_free -= n
        return self._free[self._num_free : self._num_free + n].clone()

    def free(self, slots: torch.Tensor) -> None:
        n = len(slots)
        self._free[self._num_free : self._num_free + n] = slots
        self._num_free += n


_clock = itertools.count(1)


@dataclass(eq=False)
class Node:
    tokens: tuple[int, ...]  # the edge from the parent: these tokens ...
    slots: torch.Tensor  # ... and their slots [len(tokens)]
    parent: Optional["Node"] = None
    children: dict[int, "Node"] = field(default_factory=dict)  # first token of the child's edge -> child
    locks: int = 0  # running batches that read this node (or a descendant)
    last_used: int = 0


@dataclass
class Match:
    length: int  # tokens of the prefix found
    slots: torch.Tensor  # [length]
    node: Node  # the deepest node of the match; lock it while the slots are read


class RadixTree:
    def __init__(self, pool: KVPool) -> None:
        self.pool = pool
        self.root = Node(tokens=(), slots=torch.empty(0, dtype=torch.long))
        self.cached_tokens = 0

    def match(self, tokens: list[int]) -> Match:
        """The longest cached prefix of ``tokens``. A match ending inside an edge splits it, so the
        returned node covers exactly the match."""
        node, length, parts = self.root, 0, []
        now = next(_clock)
        while length < len(tokens):
            child = node.children.get(tokens[length])
            if child is None:
                break
            common = _common_length(child.tokens, tokens, length)
            if common < len(child.tokens):
                child = self._split(child, common)
            parts.append(child.slots)
            length += common
            node = child
            node.last_used = now
        slots = torch.cat(parts) if parts else self.root.slots
        return Match(length, slots, node)

    def insert(self, tokens: list[int], new_slots: torch.Tensor, start: int = 0) -> None:
        """Cache ``tokens``: the first ``start`` were cached already (a locked match), ``new_slots``
        [len(tokens) - start] hold the rest. New slots of a part cached meanwhile are freed (the
        cached copy stays: a locked reader may be using it)."""
        match = self.match(tokens)
        duplicate = max(0, match.length - start)
        if duplicate:
            self.pool.free(new_slots[:duplicate])
        if match.length < len(tokens):
            child = Node(tuple(tokens[match.length :]), new_slots[duplicate:].clone(), parent=match.node,
                         last_used=next(_clock))
            match.node.children[tokens[match.length]] = child
            self.cached_tokens += len(child.tokens)

    def lock(self, node: Node, delta: int = 1) -> None:
        while node is not None:
            node.locks += delta
            node = node.parent

    def unlock(self, node: Node) -> None:
        self.lock(node, -1)

    def evict(self, num_tokens: int) -> int:
        """Free at least ``num_tokens`` slots from unlocked leaves, least recently used first;
        returns the number freed (less when the rest is locked). One walk of the tree, then a heap:
        a parent whose last child goes becomes a leaf and joins the heap at its own last use."""
        heap = [(n.last_used, id(n), n) for n in self._nodes() if self._evictable(n)]
        heapq.heapify(heap)
        freed = 0
        while freed < num_tokens and heap:
            _, _, leaf = heapq.heappop(heap)
            parent = leaf.parent
            freed += self._remove(leaf)
            if self._evictable(parent):
                heapq.heappush(heap, (parent.last_used, id(parent), parent))
        return freed

    def _evictable(self, node: Node) -> bool:
        return node is not self.root and not node.children and node.locks == 0

    def flush(self) -> None:
        """Forget every unlocked entry."""
        self.evict(self.cached_tokens)

    def _remove(self, leaf: Node) -> int:
        del leaf.parent.children[leaf.tokens[0]]
        self.pool.free(leaf.slots)
        self.cached_tokens -= len(leaf.tokens)
        return len(leaf.tokens)

    def _split(self, node: Node, at: int) -> Node:
        """Cut ``node``'s edge after ``at`` tokens; returns the new upper part (node keeps the rest)."""
        upper = Node(node.tokens[:at], node.slots[:at], parent=node.parent, locks=node.locks, last_used=node.last_used)
        node.parent.children[node.tokens[0]] = upper
        node.tokens, node.slots, node.parent = node.tokens[at:], node.slots[at:], upper
        upper.children[node.tokens[0]] = node
        return upper

    def _nodes(self):
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())


def _common_length(edge: tuple[int, ...], tokens: list[int], start: int) -> int:
    n = min(len(edge), len(tokens) - start)
    for i in range(n):
        if edge[i] != tokens[start + i]:
            return i
    return n


@dataclass
class PrefixKV:
    """One batch's traffic with the pool, per layer: the rows it computed that will be cached, and
    the cached rows its sequences read (what ``SequenceLayout.cached_start`` indexes)."""

    pool: KVPool
    load_slots: torch.Tensor  # [Tc] slots of every sequence's cached prefix, in batch order
    save_rows: torch.Tensor  # [S] flat rows of this batch whose keys/values are kept ...
    save_slots: torch.Tensor  # [S] ... in these slots

    def exchange(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k/v [T, Hkv, D] of this layer's batch rows -> the cached prefixes' (k, v) [Tc, Hkv, D]."""
        if len(self.save_rows):
            self.pool.k[layer].index_copy_(0, self.save_slots, k.index_select(0, self.save_rows))
            self.pool.v[layer].index_copy_(0, self.save_slots, v.index_select(0, self.save_rows))
        return self.pool.k[layer].index_select(0, self.load_slots), self.pool.v[layer].index_select(0, self.load_slots)
