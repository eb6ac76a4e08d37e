"""argparse as the `harness` commands use it: defaults in help, each command's own
usage on a wrong flag, did-you-mean, and a `--version` that imports nothing early."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from typing import Any, NoReturn

DISTRIBUTION = "api-contract-harness"

_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")
_UNRECOGNIZED = "unrecognized arguments: "


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


class HelpFormatter(argparse.HelpFormatter):
    """Appends `(default: X)` to an option's help unless it says it or has none to say."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "default" in text
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


class VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="print the version and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"{parser.prog} {version()}")
        parser.exit()


def _suggestion(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class HarnessParser(argparse.ArgumentParser):
    """Every `harness` parser and subparser (subparsers inherit the class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # argparse hands a subcommand's unknown flags up to the top-level parser,
        # which then prints its own usage; the subcommand's usage is the helpful one.
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(_UNRECOGNIZED + " ".join(extras))
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        choice = _INVALID_CHOICE.search(message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2))
            message += _suggestion(choice.group(1), options)
        elif message.startswith(_UNRECOGNIZED):
            first = message.removeprefix(_UNRECOGNIZED).split()[0].split("=")[0]
            if first.startswith("-"):
                message += _suggestion(first, list(self._option_string_actions))
        super().error(message)
