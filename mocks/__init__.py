"""The mock: mitmproxy addons, one per concern (ARCHITECTURE.md)."""

from mocks.mitm_lazy_addons import install as _install_lazy_addons

_install_lazy_addons()  # before anything imports mitmproxy's master
