"""The pytester tests here run inner pytest sessions in this process. pytester
removes the modules an inner session imported once it ends; httpx imports httpcore
lazily, on its first request, and keeps httpcore's exception classes in a module
global (`HTTPCORE_EXC_MAP`). An httpcore first imported inside one inner session
would leave httpx mapping the next session's errors by the old classes: the next
session's `httpcore.ReadError` escapes unmapped instead of `httpx.ReadError`
(test_pytest_plugin.py then test_pytest_plugin_faults.py failed two inner tests).
Imported here, before any inner session, httpcore stays the one module for all."""

import httpcore  # noqa: F401
