"""One mitmproxy addon that runs the mock's addons in order.

mitmproxy dispatches every event (four hooks per request, each followed by an
update) through every registered addon, whether it implements the hook or
not; with the mock's eleven addons registered one by one that dispatch was
about 15% of the mock's CPU time (measured with py-spy, see bench/). The
chain keeps, per hook, the list of members that implement it, and calls just
those. Members stay ordinary addons: each is still a module of its own.

Like mitmproxy, the chain logs a member's exception and goes on with the next
member, so one failing addon cannot take the others down. A member may return
an awaitable (an async hook, or a sync one that needs to wait for this flow
only); the chain then awaits it and runs the rest of the members after it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mitmproxy import exceptions

log = logging.getLogger(__name__)

HOOKS = (
    "load",
    "configure",
    "running",
    "done",
    "requestheaders",
    "request",
    "responseheaders",
    "response",
    "error",
    "next_layer",
    "client_disconnected",
)
Hook = Callable[..., Any]


class AddonChain:
    def __init__(self, members: Sequence[object]) -> None:
        # Not called `addons`: mitmproxy would register an `addons` list as children.
        self.members = tuple(members)
        self._hooks: dict[str, tuple[Hook, ...]] = {
            name: tuple(getattr(m, name) for m in self.members if hasattr(m, name))
            for name in HOOKS
        }

    def member(self, kind: type[Any]) -> Any:
        """The member of this type (for tests and wiring)."""
        return next(m for m in self.members if isinstance(m, kind))

    def _run(self, name: str, *args: Any) -> Awaitable[None] | None:
        hooks = self._hooks[name]
        for index, hook in enumerate(hooks):
            pending = _call(hook, args)
            if pending is not None:
                return _finish(pending, hooks[index + 1 :], args)
        return None

    def load(self, loader: Any) -> None:
        self._run("load", loader)

    def configure(self, updated: Any) -> None:
        self._run("configure", updated)

    def running(self) -> Awaitable[None] | None:
        return self._run("running")

    def done(self) -> Awaitable[None] | None:
        return self._run("done")

    def requestheaders(self, flow: Any) -> Awaitable[None] | None:
        return self._run("requestheaders", flow)

    def request(self, flow: Any) -> Awaitable[None] | None:
        return self._run("request", flow)

    def responseheaders(self, flow: Any) -> Awaitable[None] | None:
        return self._run("responseheaders", flow)

    def response(self, flow: Any) -> Awaitable[None] | None:
        return self._run("response", flow)

    def error(self, flow: Any) -> Awaitable[None] | None:
        return self._run("error", flow)

    def next_layer(self, nextlayer: Any) -> None:
        self._run("next_layer", nextlayer)

    def client_disconnected(self, client: Any) -> None:
        self._run("client_disconnected", client)


def _call(hook: Hook, args: tuple[Any, ...]) -> Awaitable[None] | None:
    try:
        result = hook(*args)
    except Exception as e:
        if isinstance(e, exceptions.OptionsError):
            raise  # a bad option value must reach mitmproxy, which rejects the change
        log.exception("addon %s failed", _name(hook))
        return None
    return result if result is not None and inspect.isawaitable(result) else None


async def _finish(pending: Awaitable[None], rest: tuple[Hook, ...], args: tuple[Any, ...]) -> None:
    try:
        await pending
    except Exception:
        log.exception("addon hook failed")
    for hook in rest:
        later = _call(hook, args)
        if later is not None:
            try:
                await later
            except Exception:
                log.exception("addon %s failed", _name(hook))


def _name(hook: Hook) -> str:
    owner = getattr(hook, "__self__", None)
    return f"{type(owner).__name__}.{hook.__name__}" if owner is not None else repr(hook)
