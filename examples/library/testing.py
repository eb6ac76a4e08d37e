"""Run the library server in a background thread on a free loopback port.

with running_library_server(defects={"create-200"}) as base_url:
    httpx.get(f"{base_url}/books")       # base_url ends with /api
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from examples.library.options import LibraryOptions
from examples.library.server import BASE_PATH, make_server

START_TIMEOUT_S = 30.0


@contextmanager
def running_library_server(**options: Any) -> Iterator[str]:
    """Start a server with these `LibraryOptions` fields; yield its base URL (with /api);
    stop it on exit."""
    if "defects" in options:
        options["defects"] = frozenset(options["defects"])
    server = make_server(LibraryOptions(**options), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, name="library-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the library server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{BASE_PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
