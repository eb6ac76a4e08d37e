"""mitmproxy's addons package, imported one addon at a time.

Importing any of mitmproxy's addons (the mock needs five, and mitmproxy's master
imports one) runs `mitmproxy/addons/__init__.py`, which imports all of them:
flask for the onboarding app, ldap3 for proxy auth, and some forty more, about
1 s of every mock's start for addons it never adds. `install` registers the
package without running that file: a submodule (`from mitmproxy.addons import
core`) is imported alone, and the first lookup of anything else the package
defines (`default_addons`, for mitmdump or mitmweb) runs the real file, so
mitmproxy's own tools work unchanged.

It must run before anything imports mitmproxy's master: mocks/__init__.py calls
it, and imports nothing from mitmproxy itself. tests/mocks/test_mitm_internals.py
fails if an upgrade makes it import the whole package again, or breaks the package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

PACKAGE = "mitmproxy.addons"


def install() -> None:
    if PACKAGE in sys.modules:
        return  # already imported whole (mitmdump loading our script): nothing to gain
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except ImportError:
        return
    if spec is None or spec.loader is None:
        return
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def lookup(name: str) -> Any:
        """A submodule, imported alone; anything else: run the real package file once."""
        if not name.startswith("__") and importlib.util.find_spec(f"{PACKAGE}.{name}"):
            return importlib.import_module(f"{PACKAGE}.{name}")
        del package.__getattr__
        loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = lookup  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
    parent: Any = sys.modules["mitmproxy"]  # find_spec imported it
    parent.addons = package  # as an import sets it
