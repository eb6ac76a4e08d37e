"""Single-defect mutants of the library server, to prove that checks fail.

Each one is a realistic contract or security bug, switched on by name
(`LIBRARY_DEFECTS=create-200,no-location` or `defects=` in the options). The
correct server has none. README.md says which ones plain schemathesis finds.
"""

from __future__ import annotations

DEFECTS: dict[str, str] = {
    # contract
    "create-200": "CreateBook answers 200 instead of the declared 201",
    "missing-field": "book answers lack the required favoritesCount",
    "naive-datetime": "date-times without an offset (2026-03-01T09:30:00)",
    "duplicate-400": "CreateUser with a taken email or username answers an undeclared 400",
    "server-error": "ListBooks with limit=100 (the declared maximum) answers 500",
    "wrong-content-type": "ListBooks and GetBook answer text/html",
    "no-location": "CreateBook's 201 has no Location header",
    "no-retry-after": "429 (login lockout) and 503 (lending paused) lack Retry-After",
    "lax-validation": "CreateBook accepts copies and publishedYear out of their bounds",
    # behaviour the document states in words
    "ignore-idempotency-key": "a CreateLoan retry with the same Idempotency-Key lends again",
    "cursor-repeats": "each page of ListBooks starts with the last book of the page before",
    "count-per-page": "books_count counts the page, not every matching book",
    # security
    "forged-token": "JWT signatures are never checked: a forged token is accepted",
    "expired-token": "expired JWTs are accepted",
    "no-ownership": "any member can update or delete any book",
    "loan-leak": "GetLoan shows another member's loan (200 instead of 403)",
    "default-user": "a request without a token acts as the first member",
    "deleted-account-token": "a closed account's tokens keep working",
}


def parse_defects(text: str | None) -> frozenset[str]:
    """`a,b` -> {"a", "b"}; an unknown name is an error that lists the known ones."""
    names = frozenset(n.strip() for n in (text or "").split(",") if n.strip())
    unknown = sorted(names - DEFECTS.keys())
    if unknown:
        raise ValueError(f"unknown defects {unknown}; known: {', '.join(DEFECTS)}")
    return names
