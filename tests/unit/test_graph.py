"""The peer DAG: edges go from parent to child and never close a cycle."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from damselfly.scheduler.resource.graph import CycleError, PeerGraph


def graph_of(vertices: Sequence[str], edges: Sequence[tuple[str, str]] = ()) -> PeerGraph:
    graph = PeerGraph()
    for vertex in vertices:
        graph.add_vertex(vertex)
    for parent, child in edges:
        graph.add_edge(parent, child)
    return graph


def chain(length: int) -> tuple[list[str], list[tuple[str, str]]]:
    vertices = [f"p{i}" for i in range(length)]
    return vertices, list(itertools.pairwise(vertices))


def test_vertices_and_edges() -> None:
    graph = graph_of(["a", "b", "c"], [("a", "b"), ("a", "c"), ("b", "c")])
    assert len(graph) == 3
    assert "a" in graph and "z" not in graph
    assert graph.children("a") == {"b", "c"}
    assert graph.parents("c") == {"a", "b"}
    assert graph.in_degree("c") == 2
    assert graph.in_degree("a") == 0
    assert graph.in_degree("unknown") == 0
    assert not graph.has_cycle()


def test_add_vertex_twice_keeps_edges() -> None:
    graph = graph_of(["a", "b"], [("a", "b")])
    graph.add_vertex("b")
    assert graph.parents("b") == {"a"}


def test_self_loop_rejected() -> None:
    graph = graph_of(["a"])
    assert not graph.can_add_edge("a", "a")
    with pytest.raises(CycleError):
        graph.add_edge("a", "a")


def test_duplicate_edge_rejected() -> None:
    graph = graph_of(["a", "b"], [("a", "b")])
    assert not graph.can_add_edge("a", "b")
    with pytest.raises(CycleError):
        graph.add_edge("a", "b")
    assert graph.children("a") == {"b"}


@pytest.mark.parametrize(("parent", "child"), [("a", "ghost"), ("ghost", "a")])
def test_edges_need_both_vertices(parent: str, child: str) -> None:
    graph = graph_of(["a"])
    assert not graph.can_add_edge(parent, child)
    with pytest.raises(CycleError):
        graph.add_edge(parent, child)


def test_two_cycle_rejected() -> None:
    graph = graph_of(["a", "b"], [("a", "b")])
    with pytest.raises(CycleError):
        graph.add_edge("b", "a")
    assert not graph.has_cycle()


@pytest.mark.parametrize("length", [3, 10, 2000])
def test_long_chain_cycle_rejected(length: int) -> None:
    vertices, edges = chain(length)
    graph = graph_of(vertices, edges)
    last, first = vertices[-1], vertices[0]
    assert not graph.can_add_edge(last, first)
    with pytest.raises(CycleError):
        graph.add_edge(last, first)
    # Any backwards edge closes a cycle; a forward shortcut does not.
    assert not graph.can_add_edge(vertices[length // 2], vertices[1])
    assert graph.can_add_edge(first, last)
    assert not graph.has_cycle()


def test_diamond_allows_cross_edges_but_not_back_edges() -> None:
    graph = graph_of(["s", "l", "r", "t"], [("s", "l"), ("s", "r"), ("l", "t"), ("r", "t")])
    assert graph.can_add_edge("l", "r")
    graph.add_edge("l", "r")
    assert not graph.can_add_edge("r", "l")
    assert not graph.can_add_edge("t", "s")
    assert not graph.has_cycle()


def test_delete_in_edges() -> None:
    graph = graph_of(["a", "b", "c"], [("a", "c"), ("b", "c")])
    former = graph.delete_in_edges("c")
    assert former == {"a", "b"}
    assert graph.parents("c") == set()
    assert graph.children("a") == set()
    assert graph.children("b") == set()
    assert "c" in graph
    # Once the in-edges are gone, the former child may become a parent of its parents.
    graph.add_edge("c", "a")
    assert not graph.has_cycle()


def test_delete_in_edges_keeps_out_edges() -> None:
    graph = graph_of(["a", "b", "c"], [("a", "b"), ("b", "c")])
    assert graph.delete_in_edges("b") == {"a"}
    assert graph.children("b") == {"c"}
    assert graph.parents("c") == {"b"}


def test_delete_vertex_removes_its_edges_both_ways() -> None:
    graph = graph_of(["a", "b", "c"], [("a", "b"), ("b", "c")])
    graph.delete_vertex("b")
    assert "b" not in graph
    assert len(graph) == 2
    assert graph.children("a") == set()
    assert graph.parents("c") == set()
    # The path a -> b -> c is gone, so c -> a is allowed now.
    graph.add_edge("c", "a")
    assert not graph.has_cycle()


def test_delete_unknown_vertex_is_harmless() -> None:
    graph = graph_of(["a"])
    graph.delete_vertex("ghost")
    assert len(graph) == 1


def test_has_cycle_detects_a_cycle() -> None:
    # add_edge never builds one, so reach into the adjacency sets as a corrupt graph would.
    graph = graph_of(["a", "b", "c"], [("a", "b"), ("b", "c")])
    graph.children("c").add("a")
    graph.parents("a").add("c")
    assert graph.has_cycle()


def test_empty_graph_has_no_cycle() -> None:
    assert not PeerGraph().has_cycle()


def test_out_degree_counts_children() -> None:
    graph = graph_of(["a", "b", "c"], [("a", "b"), ("a", "c"), ("b", "c")])
    assert graph.out_degree("a") == 2
    assert graph.out_degree("b") == 1
    assert graph.out_degree("c") == 0
    assert graph.out_degree("ghost") == 0


def test_delete_out_edges_keeps_in_edges() -> None:
    graph = graph_of(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("b", "d")])
    assert graph.delete_out_edges("b") == {"c", "d"}
    assert graph.children("b") == set()
    assert graph.parents("c") == set()
    assert graph.parents("d") == set()
    assert graph.parents("b") == {"a"}
    # With b's children gone, c may become b's parent.
    graph.add_edge("c", "b")
    assert not graph.has_cycle()
