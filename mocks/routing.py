"""Path routing for the addons that answer requests themselves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from mocks.problems import ProblemError


@dataclass(frozen=True)
class Match:
    name: str
    params: dict[str, str]


class Router:
    """Maps (method, path) to a route name; raises 404 or 405 problems."""

    def __init__(self, routes: Iterable[tuple[str, str, str]]) -> None:
        # (method, template, name); templates use {param} segments.
        self._exact: dict[str, dict[str, str]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, str]]] = []
        by_template: dict[str, dict[str, str]] = {}
        for method, template, name in routes:
            by_template.setdefault(template, {})[method.upper()] = name
        for template, methods in by_template.items():
            if "{" in template:
                regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
                self._patterns.append((re.compile(f"^{regex}$"), methods))
            else:
                self._exact[template] = methods

    def match(self, method: str, path: str) -> Match:
        methods = self._exact.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for regex, candidate in self._patterns:
                found = regex.match(path)
                if found:
                    methods = candidate
                    params = {k: unquote(v) for k, v in found.groupdict().items()}
                    break
        if methods is None:
            raise ProblemError(404, "not_found", f"No resource at {path}.")
        name = methods.get(method.upper())
        if name is None:
            allowed = ", ".join(sorted(methods))
            raise ProblemError(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {path}; use {allowed}.",
                headers={"Allow": allowed},
            )
        return Match(name, params)
