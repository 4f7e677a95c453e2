"""livehub.node: the composition of one node, built without starting it (nothing touches Redis)."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis.asyncio as aioredis

from livehub.backplane.memory import MemoryBroker
from livehub.config import load_festival
from livehub.node import Node
from livehub.settings import Settings
from tests.conftest import SMALL_CONFIG


def parts_holding(root: Any, festival: Any, depth: int = 3) -> list[str]:
    """Dotted paths, from ``root``, of every attribute chain that ends in an object holding ``festival``."""
    found: list[str] = []
    todo: list[tuple[Any, str, int]] = [(root, "node", 0)]
    seen: set[int] = set()
    while todo:
        obj, path, level = todo.pop()
        if id(obj) in seen or level > depth:
            continue
        seen.add(id(obj))
        if getattr(obj, "festival", None) is festival:
            found.append(path)
        for name, value in getattr(obj, "__dict__", {}).items():
            if not isinstance(value, (str, int, float, bytes, dict, list, tuple, set)):
                todo.append((value, f"{path}.{name}", level + 1))
    return found


def test_an_adopted_festival_reaches_every_part_of_the_node_that_held_the_old_one() -> None:
    old = load_festival(SMALL_CONFIG)
    node = Node(Settings(node_id="n1"), old, aioredis.Redis(), broker=MemoryBroker())
    holders = parts_holding(node, old)
    assert len(holders) > 10  # the services hold it (a walk that finds nothing proves nothing)
    heard: list[Any] = []
    node.festival_listeners.append(heard.append)

    new = dataclasses.replace(old)
    node.adopt_festival(new)

    assert parts_holding(node, old) == []
    assert sorted(parts_holding(node, new)) == sorted(holders)
    assert heard == [new]
