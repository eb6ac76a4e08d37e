"""The library's state and rules, in memory, without HTTP.

Members, books (by slug), reviews and loans (by integer id), favourites and
idempotency keys. Every rule the document states lives here: who owns what,
how many copies are free, when a login is locked out. The HTTP layer
(`server.py`) turns `LibraryError` into the document's error shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


class LibraryError(Exception):
    """A request the rules refuse: its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Member:
    id: int
    email: str
    username: str
    password_hash: bytes
    salt: bytes
    bio: str | None = None
    image: str | None = None
    closed: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None

    def password_is(self, password: str) -> bool:
        return hmac.compare_digest(_hash(password, self.salt), self.password_hash)


@dataclass
class Book:
    slug: str
    owner_id: int
    isbn: str
    title: str
    authors: list[str]
    copies: int
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    language: str = "en"
    publishedYear: int | None = None
    replacementCost: float = 20.0
    coverUrl: str | None = None
    tags: list[str] = field(default_factory=list)
    favorited_by: set[int] = field(default_factory=set)


@dataclass
class Review:
    id: int
    book_slug: str
    author_id: int
    body: str
    rating: int
    created_at: datetime


@dataclass
class Loan:
    id: int
    book_slug: str
    borrower_id: int
    borrowed_at: datetime
    due_at: datetime
    returned_at: datetime | None = None

    def status(self, at: datetime) -> str:
        if self.returned_at is not None:
            return "returned"
        return "overdue" if at > self.due_at else "active"


def _hash(password: str, salt: bytes) -> bytes:
    # Few iterations: a test server that fuzzers log in to thousands of times.
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 2_000)


def slugify(title: str, suffix: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80].strip("-")
    return f"{words or 'book'}-{suffix}"


IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)  # as the document says

BOOK_FIELDS = (
    "isbn", "title", "authors", "description", "language", "publishedYear",
    "copies", "replacementCost", "coverUrl", "tags",
)  # fmt: skip


class Library:
    """Everything the server knows. Not thread-safe: the server's handlers run on one
    event loop."""

    def __init__(
        self,
        *,
        login_attempts: int = 5,
        lockout_s: int = 10,
        rng: random.Random | None = None,
        book_ownership: bool = True,
    ) -> None:
        self.members: dict[int, Member] = {}
        self.by_email: dict[str, int] = {}
        self.by_username: dict[str, int] = {}
        self.books: dict[str, Book] = {}
        self.reviews: dict[int, Review] = {}
        self.loans: dict[int, Loan] = {}
        # (member, key) -> (request fingerprint, loan id, when it was first used)
        self.idempotency: dict[tuple[int, str], tuple[str, int, datetime]] = {}
        self.book_ownership = book_ownership  # False: the no-ownership defect
        self.login_attempts = login_attempts
        self.lockout = timedelta(seconds=lockout_s)
        self._rng = rng or random.Random()
        self._ids = {"member": 0, "review": 0, "loan": 0}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # --- members -------------------------------------------------------------------------

    def register(self, email: str, username: str, password: str) -> Member:
        if email.lower() in self.by_email:
            raise LibraryError(409, "email has already been taken")
        if username.lower() in self.by_username:
            raise LibraryError(409, "username has already been taken")
        salt = secrets.token_bytes(16)
        member = Member(self._next("member"), email, username, _hash(password, salt), salt)
        self.members[member.id] = member
        self.by_email[email.lower()] = member.id
        self.by_username[username.lower()] = member.id
        return member

    def login(self, email: str, password: str) -> Member:
        member_id = self.by_email.get(email.lower())
        member = self.members.get(member_id) if member_id is not None else None
        if member is None:
            raise LibraryError(401, "email or password is invalid")
        at = now()
        if member.locked_until is not None and at < member.locked_until:
            wait = max(1, int((member.locked_until - at).total_seconds()))
            raise LibraryError(
                429, "too many failed logins; try again later", {"Retry-After": str(wait)}
            )
        if not member.password_is(password):
            member.failed_logins += 1
            if 0 < self.login_attempts <= member.failed_logins:  # 0: no lockout
                member.failed_logins = 0
                member.locked_until = at + self.lockout
            raise LibraryError(401, "email or password is invalid")
        member.failed_logins = 0
        member.locked_until = None
        return member

    def member(self, member_id: int, *, closed_ok: bool = False) -> Member | None:
        member = self.members.get(member_id)
        if member is None or (member.closed and not closed_ok):
            return None
        return member

    def update_member(self, member: Member, changes: dict[str, Any]) -> Member:
        email, username = changes.get("email"), changes.get("username")
        if email is not None and self.by_email.get(email.lower(), member.id) != member.id:
            raise LibraryError(409, "email has already been taken")
        if username is not None and self.by_username.get(username.lower(), member.id) != member.id:
            raise LibraryError(409, "username has already been taken")
        if email is not None:
            del self.by_email[member.email.lower()]
            member.email = email
            self.by_email[email.lower()] = member.id
        if username is not None:
            del self.by_username[member.username.lower()]
            member.username = username
            self.by_username[username.lower()] = member.id
        if changes.get("password") is not None:
            member.password_hash = _hash(changes["password"], member.salt)
        for name in ("bio", "image"):
            if name in changes:
                setattr(member, name, changes[name])
        return member

    def close(self, member: Member) -> None:
        """Close an account: its email and username are free again; what it wrote stays,
        signed with its last username, and nobody can change it any more."""
        member.closed = True
        self.by_email.pop(member.email.lower(), None)
        self.by_username.pop(member.username.lower(), None)

    # --- books ---------------------------------------------------------------------------

    def add_book(self, owner: Member, fields: dict[str, Any]) -> Book:
        while True:
            suffix = "".join(self._rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=4))
            slug = slugify(fields["title"], suffix)
            if slug not in self.books:
                break
        at = now()
        book = Book(slug=slug, owner_id=owner.id, created_at=at, updated_at=at, **fields)
        if book.tags is None:
            book.tags = []
        if book.language is None:
            book.language = "en"
        if book.replacementCost is None:
            book.replacementCost = 20.0
        self.books[slug] = book
        return book

    def book(self, slug: str) -> Book:
        book = self.books.get(slug)
        if book is None:
            raise LibraryError(404, f"book {slug!r} not found")
        return book

    def on_loan(self, book: Book) -> int:
        loans = self.loans.values()
        return sum(1 for loan in loans if loan.book_slug == book.slug and not loan.returned_at)

    def page_of_books(
        self, *, limit: int, cursor: str | None, author: str | None
    ) -> tuple[list[Book], str | None, int]:
        """Books in slug order after `cursor` (keyset pagination: any string is a
        position), the next cursor or None, and how many books match in all."""
        matching = sorted(
            (b for b in self.books.values() if author is None or author in b.authors),
            key=lambda b: b.slug,
        )
        after = [b for b in matching if cursor is None or b.slug > cursor]
        page = after[:limit]
        next_cursor = page[-1].slug if len(after) > limit else None
        return page, next_cursor, len(matching)

    def update_book(self, member: Member, book: Book, changes: dict[str, Any]) -> Book:
        if self.book_ownership:
            self._owned(member, book.owner_id, "only the owner can change this book")
        copies = changes.get("copies")
        if copies is not None and copies < self.on_loan(book):
            raise LibraryError(409, f"{self.on_loan(book)} copies are on loan")
        for name, value in changes.items():
            if value is None and name not in ("description", "publishedYear", "coverUrl"):
                continue
            setattr(book, name, value)
        book.updated_at = now()
        return book

    def remove_book(self, member: Member, book: Book) -> None:
        if self.book_ownership:
            self._owned(member, book.owner_id, "only the owner can delete this book")
        if self.on_loan(book):
            raise LibraryError(409, "copies of this book are on loan")
        del self.books[book.slug]
        for review_id in [r.id for r in self.reviews.values() if r.book_slug == book.slug]:
            del self.reviews[review_id]

    @staticmethod
    def _owned(member: Member, owner_id: int, message: str) -> None:
        if member.id != owner_id:
            raise LibraryError(403, message)

    # --- reviews -------------------------------------------------------------------------

    def add_review(self, author: Member, book: Book, body: str, rating: int) -> Review:
        review = Review(self._next("review"), book.slug, author.id, body, rating, now())
        self.reviews[review.id] = review
        return review

    def reviews_of(self, book: Book) -> list[Review]:
        return sorted(
            (r for r in self.reviews.values() if r.book_slug == book.slug),
            key=lambda r: -r.id,
        )

    def review(self, book: Book, review_id: int) -> Review:
        review = self.reviews.get(review_id)
        if review is None or review.book_slug != book.slug:
            raise LibraryError(404, f"review {review_id} not found")
        return review

    def remove_review(self, member: Member, review: Review) -> None:
        self._owned(member, review.author_id, "only its author can delete this review")
        del self.reviews[review.id]

    # --- loans ---------------------------------------------------------------------------

    def lend(self, borrower: Member, slug: str, days: int, key: str | None) -> tuple[Loan, bool]:
        """A new loan, or with a known idempotency key the loan it made (True: a replay)."""
        fingerprint = json.dumps({"book": slug, "days": days}, sort_keys=True)
        if key is not None:
            seen = self.idempotency.get((borrower.id, key))
            if seen is not None and now() - seen[2] > IDEMPOTENCY_KEY_LIFETIME:
                del self.idempotency[(borrower.id, key)]
                seen = None
            if seen is not None:
                if seen[0] != fingerprint:
                    raise LibraryError(409, "this Idempotency-Key was used with another body")
                return self.loans[seen[1]], True
        book = self.book(slug)
        if self.on_loan(book) >= book.copies:
            raise LibraryError(409, "no copy of this book is available")
        if any(
            loan.book_slug == slug and loan.borrower_id == borrower.id and not loan.returned_at
            for loan in self.loans.values()
        ):
            raise LibraryError(409, "you already borrowed this book")
        at = now()
        loan = Loan(self._next("loan"), slug, borrower.id, at, at + timedelta(days=days))
        self.loans[loan.id] = loan
        if key is not None:
            self.idempotency[(borrower.id, key)] = (fingerprint, loan.id, at)
        return loan, False

    def loan(self, member: Member, loan_id: int, *, check_owner: bool = True) -> Loan:
        loan = self.loans.get(loan_id)
        if loan is None:
            raise LibraryError(404, f"loan {loan_id} not found")
        if check_owner:
            self._owned(member, loan.borrower_id, "this loan belongs to another member")
        return loan

    def give_back(self, loan: Loan) -> Loan:
        if loan.returned_at is None:
            loan.returned_at = now()
        return loan

    def page_of_loans(
        self, member: Member, *, limit: int, cursor: str | None
    ) -> tuple[list[Loan], str | None, int]:
        """The member's loans newest first; the cursor is a sortable position key, so
        any string is a position."""
        mine = sorted(
            (loan for loan in self.loans.values() if loan.borrower_id == member.id),
            key=lambda loan: -loan.id,
        )
        after = [loan for loan in mine if cursor is None or _loan_key(loan) < cursor]
        page = after[:limit]
        next_cursor = _loan_key(page[-1]) if len(after) > limit else None
        return page, next_cursor, len(mine)


def _loan_key(loan: Loan) -> str:
    return f"{loan.id:012d}"
