"""A directed acyclic graph of peers: an edge goes from parent to child."""

from __future__ import annotations


class CycleError(Exception):
    """Adding the edge would close a cycle (or it is a self loop or a duplicate)."""


class PeerGraph:
    def __init__(self) -> None:
        self._parents: dict[str, set[str]] = {}
        self._children: dict[str, set[str]] = {}

    def __contains__(self, vertex: object) -> bool:
        return vertex in self._parents

    def __len__(self) -> int:
        return len(self._parents)

    def add_vertex(self, vertex: str) -> None:
        self._parents.setdefault(vertex, set())
        self._children.setdefault(vertex, set())

    def delete_vertex(self, vertex: str) -> None:
        for parent in self._parents.pop(vertex, set()):
            self._children[parent].discard(vertex)
        for child in self._children.pop(vertex, set()):
            self._parents[child].discard(vertex)

    def parents(self, vertex: str) -> set[str]:
        return self._parents.get(vertex, set())

    def children(self, vertex: str) -> set[str]:
        return self._children.get(vertex, set())

    def in_degree(self, vertex: str) -> int:
        return len(self._parents.get(vertex, ()))

    def out_degree(self, vertex: str) -> int:
        return len(self._children.get(vertex, ()))

    def _reachable(self, start: str, target: str) -> bool:
        stack, seen = [start], {start}
        while stack:
            node = stack.pop()
            if node == target:
                return True
            for child in self._children.get(node, ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return False

    def can_add_edge(self, parent: str, child: str) -> bool:
        if parent == child or parent not in self or child not in self:
            return False
        if child in self._children[parent]:
            return False
        return not self._reachable(child, parent)

    def add_edge(self, parent: str, child: str) -> None:
        if not self.can_add_edge(parent, child):
            raise CycleError(f"edge {parent} -> {child} is not allowed")
        self._children[parent].add(child)
        self._parents[child].add(parent)

    def delete_in_edges(self, vertex: str) -> set[str]:
        """Remove every edge into ``vertex``; returns the former parents."""
        parents = self._parents.get(vertex, set())
        for parent in parents:
            self._children[parent].discard(vertex)
        self._parents[vertex] = set()
        return parents

    def delete_out_edges(self, vertex: str) -> set[str]:
        """Remove every edge out of ``vertex``; returns the former children."""
        children = self._children.get(vertex, set())
        for child in children:
            self._parents[child].discard(vertex)
        self._children[vertex] = set()
        return children

    def has_cycle(self) -> bool:
        """Full check, for tests and assertions."""
        indegree = {v: len(p) for v, p in self._parents.items()}
        ready = [v for v, d in indegree.items() if d == 0]
        visited = 0
        while ready:
            node = ready.pop()
            visited += 1
            for child in self._children[node]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        return visited != len(indegree)
