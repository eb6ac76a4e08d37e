"""`SharedItemStore` behaves as `MemoryItemStore` does, and `ItemWrites` makes one
request's read-modify-write of items atomic against another worker's (two
connections to one SQLite file stand for two workers)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.config import load_config
from mocks.clock import VirtualClock
from mocks.notes import note
from mocks.resource_model import Resource
from mocks.resource_store import ItemStore, MemoryItemStore
from mocks.shared_items import ItemWrites, SharedItemStore
from mocks.spec_chain import compile_spec
from mocks.spec_routes import PLAN_KEY
from mocks.sqlite_store import SqliteStateStore

BOOKS = Path(__file__).parents[1] / "data" / "books" / "harness.yaml"


@pytest.fixture(scope="module")
def resources() -> list[Resource]:
    config = load_config(BOOKS)
    found: list[Resource] = compile_spec(config.spec_location, config).resources  # type: ignore[attr-defined]
    assert found
    assert found[0].seeded
    return found


def _exercise(store: ItemStore, r: Resource) -> list[Any]:
    """Every ItemStore call, in an order a mock makes them; what each answered."""
    seen: list[Any] = [store.count(r), [i["id"] for i in store.items(r, ())]]
    serial = store.next_serial(r)
    store.put(r, (), str(serial), {"id": serial, "title": "new"})
    store.set_owner(r, (), str(serial), "u-1")
    first = store.items(r, ())[0]
    store.put(r, (), str(first["id"]), dict(first, title="changed"))  # keeps its place
    seen += [serial, store.get(r, (), str(serial)), store.owner(r, (), str(serial))]
    seen += [store.contains(r, (), str(serial)), store.contains(r, (), "nope")]
    seen += [[(i["id"], i["title"]) for i in store.items(r, ())], store.count(r)]
    seen += [store.delete(r, (), str(serial)), store.delete(r, (), str(serial))]
    seen += [store.owner(r, (), str(serial)), store.get(r, (), "nope"), store.count(r)]
    return seen


def test_the_shared_store_answers_as_the_memory_store(
    resources: list[Resource], tmp_path: Path
) -> None:
    r = resources[0]
    memory = _exercise(MemoryItemStore(resources, VirtualClock()), r)
    sqlite = SqliteStateStore(tmp_path / "s.db", durable=False)
    shared = _exercise(SharedItemStore(sqlite, resources, VirtualClock()), r)
    assert shared == memory


def test_seeds_go_in_once_and_again_only_with_a_reset(
    resources: list[Resource], tmp_path: Path
) -> None:
    r = resources[0]
    first = SqliteStateStore(tmp_path / "s.db", durable=False)
    items = SharedItemStore(first, resources, VirtualClock())
    items.put(r, (), "made", {"id": 999, "title": "kept"})
    # A second worker (or a restart on --state FILE) finds the items as they are.
    second = SqliteStateStore(tmp_path / "s.db", durable=False)
    other = SharedItemStore(second, resources, VirtualClock())
    assert other.count(r) == len(r.seeded) + 1
    generation = other.generation
    second.next_epoch()  # a reset, on the second worker
    assert items.count(r) == other.count(r) == len(r.seeded)
    assert other.generation > generation  # cached reads of the last life are stale
    items.reset()  # the first worker's catching up leaves the store as it is
    assert other.count(r) == len(r.seeded)


def _writing_flow(epoch: int) -> Any:
    flow = SimpleNamespace(
        metadata={PLAN_KEY: SimpleNamespace(resource=SimpleNamespace(action="update"))}
    )
    note(flow).epoch = epoch  # type: ignore[arg-type]
    return flow


class _Increment:
    """A request that reads an item, waits for the other worker's to read too (or `wait`
    seconds), and writes it back with one more: the read-modify-write `Resources` makes."""

    def __init__(
        self, store: SharedItemStore, r: Resource, mine: threading.Event, theirs: threading.Event
    ) -> None:
        self.store, self.r, self.mine, self.theirs = store, r, mine, theirs
        self.wait = 0.5

    def request(self, flow: Any) -> None:
        item = self.store.get(self.r, (), "counter") or {"id": 0, "n": 0}
        self.mine.set()
        self.theirs.wait(self.wait)
        self.store.put(self.r, (), "counter", dict(item, n=item["n"] + 1))
        flow.response = "answered"


@pytest.mark.parametrize("atomic", [True, False], ids=["item-writes", "without"])
def test_two_workers_changing_one_item_at_once_lose_no_write(
    resources: list[Resource], tmp_path: Path, atomic: bool
) -> None:
    r = resources[0]
    workers = [SqliteStateStore(tmp_path / "s.db", durable=False) for _ in range(2)]
    stores = [SharedItemStore(w, resources, VirtualClock()) for w in workers]
    read = [threading.Event(), threading.Event()]
    addons = [_Increment(stores[i], r, read[i], read[1 - i]) for i in range(2)]
    for addon in addons:
        # With one transaction the other cannot read until this one commits: waiting is
        # the test's whole time, so short. Without, the other reads as soon as its thread
        # runs: a long bound only matters on a crowded machine (no early write).
        addon.wait = 0.3 if atomic else 10.0
    requests = [ItemWrites(a, s) if atomic else a for a, s in zip(addons, stores, strict=True)]
    flows = [_writing_flow(0), _writing_flow(0)]
    threads = [
        threading.Thread(target=q.request, args=(f,)) for q, f in zip(requests, flows, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    counter = stores[0].get(r, (), "counter")
    assert counter is not None
    assert [f.response for f in flows] == ["answered", "answered"]
    # Without one transaction per request both read 0 and both write 1: a write is lost.
    assert counter["n"] == (2 if atomic else 1)


def test_a_change_begun_before_another_workers_reset_is_answered_and_rolled_back(
    resources: list[Resource], tmp_path: Path
) -> None:
    r = resources[0]
    sqlite = SqliteStateStore(tmp_path / "s.db", durable=False)
    store = SharedItemStore(sqlite, resources, VirtualClock())
    unused = threading.Event()
    unused.set()
    addon = ItemWrites(_Increment(store, r, threading.Event(), unused), store)
    late = _writing_flow(sqlite.epoch())
    SqliteStateStore(tmp_path / "s.db", durable=False).next_epoch()  # the other worker
    addon.request(late)
    assert late.response == "answered"
    assert store.get(r, (), "counter") is None  # it happened before the reset
    on_time = _writing_flow(sqlite.epoch())
    addon.request(on_time)
    assert store.get(r, (), "counter") == {"id": 0, "n": 1}


def test_seeded_items_belong_to_their_seed_owner_in_both_stores(
    resources: list[Resource], tmp_path: Path
) -> None:
    """`seed_owner` (the demo's catalogue belongs to its shop): every worker must see the
    owner, or ownership would let anyone change a seeded item on a shared store."""
    owned = [dataclasses.replace(r, seed_owner="usr_shop") for r in resources]
    r = owned[0]
    key = str(r.seeded[0][r.id_field]) if r.id_field else "1"
    memory = MemoryItemStore(owned, VirtualClock())
    shared = SharedItemStore(
        SqliteStateStore(tmp_path / "s.db", durable=False), owned, VirtualClock()
    )
    assert memory.owner(r, (), key) == shared.owner(r, (), key) == "usr_shop"
