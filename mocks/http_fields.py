"""What may go into an HTTP header a rule or scenario asks the mock to send.

RFC 9110 section 5: a field name is a token; a field value is visible
characters, spaces and tabs (obs-text allowed), with no leading or trailing
whitespace. A CR or LF in either would end the header early and inject the
rest as a header of the attacker's choosing (`Set-Cookie`, a second
`Content-Length`); a NUL truncates it for some parsers. Framing headers are
the mock's to set: a rule that declares its own `Content-Length` breaks the
response for every client after it (the `short_body` fault does that on
purpose, and only that).
"""

from __future__ import annotations

import re

# tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
#       / DIGIT / ALPHA
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Controls other than HTAB; DEL. Anything from U+0080 up is sent as UTF-8 bytes >= 0x80,
# which is obs-text on the wire.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

FRAMING_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def check_name(name: str) -> str:
    """The name if it is an RFC 9110 token; ValueError with the reason otherwise."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(
            f"header name {name!r} is not an RFC 9110 token "
            "(letters, digits and !#$%&'*+-.^_`|~ only, no spaces, colons, CR or LF)"
        )
    return name


def check_value(value: str, what: str = "header value") -> str:
    """The value if it is an RFC 9110 field value; ValueError with the reason otherwise."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{what} {value!r} must not contain CR, LF (it would inject a header)")
    if "\x00" in value:
        raise ValueError(f"{what} {value!r} must not contain NUL")
    if _CONTROL.search(value):
        raise ValueError(f"{what} {value!r} must not contain control characters")
    if value != value.strip(" \t"):
        raise ValueError(f"{what} {value!r} must not start or end with whitespace")
    return value


def check_headers(headers: dict[str, str], *, framing_allowed: bool = False) -> dict[str, str]:
    """Every name a token and every value a field value; framing headers refused unless
    `framing_allowed` (a request match may name them, a response may not)."""
    for name, value in headers.items():
        check_name(name)
        if not framing_allowed and name.lower() in FRAMING_HEADERS:
            raise ValueError(
                f"header {name!r} is a framing header the mock sets itself "
                "(use a short_body fault to break framing on purpose)"
            )
        check_value(value, f"header {name!r} value")
    return headers
