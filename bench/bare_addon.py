"""A mitmproxy addon that answers every request with one constant JSON body.

It is the ceiling of "a mock made of mitmproxy addons" on a machine: all the
cost of mitmproxy (accepting, parsing, dispatching hooks, writing) and none of
the mock's own. The body is shaped and sized like a product of the mock, so
both write the same bytes.

Two ways to run it, matching the two ways the mock runs:

    python -m bench.bare_addon --port 0      # lean master: the mock's mitmproxy addons
    mitmdump -q -s bench/bare_addon.py --mode reverse:http://127.0.0.1:9 \
        --set connection_strategy=lazy -p PORT   # the dump tool's default chain

The lean master prints `Bare addon    http://127.0.0.1:PORT` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from mitmproxy import addonmanager, http, options
from mitmproxy.master import Master

from mocks.server import NO_UPSTREAM, mitmproxy_addons

BODY = json.dumps(
    {
        "id": "prd_0000000000000000bare",
        "name": "Constant product answered by the bare addon benchmark",
        "price": 1560.46,
        "description": "Always the same bytes.",
        "image_urls": [f"https://images.example.com/products/prd_bare/{i}.jpg" for i in range(3)],
        "created_at": "2024-01-02T05:22:43Z",
        "category": {"id": "toys", "name": "Toys"},
        "variants": [],
    },
    separators=(",", ":"),
).encode()
HEADERS = {"content-type": "application/json"}


class ConstantAnswer:
    """Answers every request in the `request` hook; nothing else."""

    def request(self, flow: http.HTTPFlow) -> None:
        flow.response = http.Response.make(200, BODY, HEADERS)


class AnnouncePort:
    """Prints the bound port once the proxy server listens."""

    def __init__(self) -> None:
        self._master: Master | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        self._master = loader.master

    def running(self) -> None:
        assert self._master is not None
        server = self._master.addons.get("proxyserver")
        ports = [addr[1] for instance in server.servers for addr in instance.listen_addrs]
        print(f"Bare addon    http://127.0.0.1:{ports[0]}", flush=True)


async def serve(host: str, port: int) -> None:
    """The lean master, configured as `mocks.server.serve` configures the mock's."""
    opts = options.Options(listen_host=host, listen_port=port, mode=[f"reverse:{NO_UPSTREAM}"])
    master = Master(opts)
    master.addons.add(*mitmproxy_addons(), ConstantAnswer(), AnnouncePort())
    opts.update(connection_strategy="lazy", body_size_limit="4m")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, master.shutdown)
    await master.run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a constant JSON answer on mitmproxy.")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


# `mitmdump -s bench/bare_addon.py` loads this list.
addons = [ConstantAnswer()]

if __name__ == "__main__":
    sys.exit(main())
