"""The library's answers: the JSON shapes its document declares (and, with a
defect on, the ways they go wrong)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse, Response

from examples.library.store import BOOK_FIELDS, Book, Library, Loan, Member, Review, now


class Renderer:
    def __init__(self, library: Library, defects: frozenset[str]) -> None:
        self.library = library
        self.defects = defects

    def json(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
        *,
        listing: bool = False,
    ) -> Response:
        """`listing`: an answer the wrong-content-type defect spoils (ListBooks, GetBook)."""
        response = JSONResponse(body, status, headers=dict(headers or {}))
        if listing and "wrong-content-type" in self.defects:
            response.headers["content-type"] = "text/html; charset=utf-8"
        return response

    def stamp(self, at: datetime) -> str:
        if "naive-datetime" in self.defects:
            return at.replace(tzinfo=None).isoformat()
        return at.isoformat()  # 2026-03-01T09:30:00+00:00

    def user(self, member: Member, token: str) -> dict[str, Any]:
        return {
            "email": member.email,
            "username": member.username,
            "token": token,
            "bio": member.bio,
            "image": member.image,
        }

    def profile(self, member_id: int) -> dict[str, Any]:
        member = self.library.members[member_id]
        return {"username": member.username, "bio": member.bio, "image": member.image}

    def book(self, book: Book, viewer: Member | None) -> dict[str, Any]:
        body: dict[str, Any] = {"slug": book.slug}
        body |= {name: getattr(book, name) for name in BOOK_FIELDS}
        body |= {
            "available": book.copies - self.library.on_loan(book),
            "owner": self.profile(book.owner_id),
            "favorited": viewer is not None and viewer.id in book.favorited_by,
            "favoritesCount": len(book.favorited_by),
            "createdAt": self.stamp(book.created_at),
            "updatedAt": self.stamp(book.updated_at),
        }
        if "missing-field" in self.defects:
            del body["favoritesCount"]
        return body

    def review(self, review: Review) -> dict[str, Any]:
        return {
            "id": review.id,
            "body": review.body,
            "rating": review.rating,
            "author": self.profile(review.author_id),
            "createdAt": self.stamp(review.created_at),
        }

    def loan(self, loan: Loan) -> dict[str, Any]:
        return {
            "id": loan.id,
            "book": loan.book_slug,
            "borrower": self.library.members[loan.borrower_id].username,
            "status": loan.status(now()),
            "borrowedAt": self.stamp(loan.borrowed_at),
            "dueAt": self.stamp(loan.due_at),
            "returnedAt": self.stamp(loan.returned_at) if loan.returned_at else None,
        }
