"""Where the spec engine keeps its items: the one interface every stateful addon
goes through (`Resources`, the actions on items, ownership).

`ItemStore` is that interface; `MemoryItemStore` keeps everything in dicts of
this process. Items go in and come out as copies, so a store that keeps them
elsewhere (another process, a database) behaves the same: a change is only
what is written back with `put`.

Items are addressed by resource, the parent path parameters (nested
resources: the reviews of one book) and the item's key. Each item may have an
owner (the user id that created it). `generation` grows with every write, so
readers may cache what they answered between writes.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from mocks.clock import VirtualClock
from mocks.resource_model import Resource

Item = dict[str, Any]
Parents = tuple[str, ...]


class ItemStore(Protocol):
    @property
    def generation(self) -> int: ...  # read-only: a store may count writes elsewhere

    def reset(self) -> None: ...
    def get(self, r: Resource, parents: Parents, key: str) -> Item | None: ...
    def put(self, r: Resource, parents: Parents, key: str, item: Item) -> None: ...
    def delete(self, r: Resource, parents: Parents, key: str) -> Item | None: ...
    def items(self, r: Resource, parents: Parents) -> list[Item]: ...
    def count(self, r: Resource) -> int: ...
    def contains(self, r: Resource, parents: Parents, key: str) -> bool: ...
    def owner(self, r: Resource, parents: Parents, key: str) -> str | None: ...
    def set_owner(self, r: Resource, parents: Parents, key: str, owner: str) -> None: ...
    def next_serial(self, r: Resource) -> int: ...
    def now_iso(self) -> str: ...


def parents_of(r: Resource, params: dict[str, str]) -> Parents:
    return tuple(params.get(p, "") for p in r.parents)


class MemoryItemStore:
    """The items of this process, seeded from the inferred resources."""

    def __init__(self, resources: list[Resource], clock: VirtualClock) -> None:
        self.resources = resources
        self._clock = clock
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        self.generation += 1
        self._items: dict[tuple[str, Parents], dict[str, Item]] = {}
        self._owners: dict[tuple[str, Parents, str], str] = {}
        self._serials: dict[str, int] = {}
        for r in self.resources:
            bucket = self._bucket(r, ())
            for index, item in enumerate(r.seeded):
                key = str(item[r.id_field]) if r.id_field else str(index + 1)
                bucket[key] = copy.deepcopy(item)
                if r.seed_owner is not None:
                    self._owners[(r.collection, (), key)] = r.seed_owner
            self._serials[r.collection] = len(r.seeded)

    def _bucket(self, r: Resource, parents: Parents) -> dict[str, Item]:
        return self._items.setdefault((r.collection, parents), {})

    def get(self, r: Resource, parents: Parents, key: str) -> Item | None:
        item = self._bucket(r, parents).get(key)
        return copy.deepcopy(item) if item is not None else None

    def contains(self, r: Resource, parents: Parents, key: str) -> bool:
        return key in self._bucket(r, parents)

    def put(self, r: Resource, parents: Parents, key: str, item: Item) -> None:
        self._bucket(r, parents)[key] = copy.deepcopy(item)
        self.generation += 1

    def delete(self, r: Resource, parents: Parents, key: str) -> Item | None:
        self.generation += 1
        self._owners.pop((r.collection, parents, key), None)
        return self._bucket(r, parents).pop(key, None)

    def items(self, r: Resource, parents: Parents) -> list[Item]:
        # Listed items are only read (fitted into a new answer): no copies needed.
        return list(self._bucket(r, parents).values())

    def count(self, r: Resource) -> int:
        """Items of `r` under every parent."""
        return sum(len(b) for (c, _), b in self._items.items() if c == r.collection)

    def owner(self, r: Resource, parents: Parents, key: str) -> str | None:
        return self._owners.get((r.collection, parents, key))

    def set_owner(self, r: Resource, parents: Parents, key: str, owner: str) -> None:
        self._owners[(r.collection, parents, key)] = owner

    def next_serial(self, r: Resource) -> int:
        self._serials[r.collection] = self._serials.get(r.collection, 0) + 1
        return self._serials[r.collection]

    def now_iso(self) -> str:
        return self._clock.now_datetime().isoformat().replace("+00:00", "Z")
