"""A small, correct server for the lending library's document (openapi.yaml),
written with FastAPI, as a team outside this project would write it.

    python -m examples.library.server --port 8000 [--defects create-200,...]

State is in memory; sessions are real JWTs (HS256) with an expiry; errors are
`{"errors": {"body": [...]}}`. Options also come from the environment:
LIBRARY_TOKEN_TTL (seconds), LIBRARY_SECRET, LIBRARY_DEFECTS,
LIBRARY_LENDING_PAUSED=1, LIBRARY_LOGIN_ATTEMPTS, LIBRARY_LOCKOUT.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations,
# which name aliases local to create_app().

import argparse
import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import jwt
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from examples.library.defects import parse_defects
from examples.library.models import (
    LoanUpdateRequest,
    LoginRequest,
    NewBookRequest,
    NewLoanRequest,
    NewUserRequest,
    ReviewRequest,
    UpdateBookRequest,
    UpdateUserRequest,
)
from examples.library.options import LibraryOptions
from examples.library.render import Renderer
from examples.library.store import Library, LibraryError, Member

BASE_PATH = "/api"


def _errors(status: int, *messages: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"errors": {"body": list(messages)}}, status, headers=dict(headers or {}))


def create_app(options: LibraryOptions | None = None) -> FastAPI:
    """The library's ASGI application, with its own state."""
    options = options or LibraryOptions()
    defects = options.defects
    library = Library(
        login_attempts=options.login_attempts,
        lockout_s=options.lockout_s,
        rng=random.Random(options.seed),
        book_ownership="no-ownership" not in defects,
    )
    render = Renderer(library, defects)
    # No redirect for a trailing slash: a path the document lacks is a 404 in its error shape.
    app = FastAPI(
        title="Lending Library", docs_url=None, redoc_url=None, openapi_url=None,
        redirect_slashes=False,
    )  # fmt: skip
    app.state.library = library
    app.state.options = options

    # --- errors in the document's shape ------------------------------------------------

    @app.exception_handler(LibraryError)
    async def _refused(request: Request, exc: LibraryError) -> Response:
        headers = dict(exc.headers)
        if exc.status in (429, 503) and "no-retry-after" in defects:
            headers.pop("Retry-After", None)
        if exc.status == 401:
            headers.setdefault("WWW-Authenticate", "Token")
        return _errors(exc.status, exc.message, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        messages = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0])
            messages.append(f"{where}: {error['msg']}")
        return _errors(422, *(messages or ["the request is invalid"]))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 400:  # FastAPI's "error parsing the body": malformed, like the rest
            return _errors(422, "the body is not valid JSON")
        if exc.status_code == 405:  # every method the path has, not only the first route's
            path = request.url.path
            allowed = sorted(
                {
                    method
                    for route in router.routes
                    if isinstance(route, APIRoute) and route.path_regex.match(path)
                    for method in route.methods or ()
                }
            )
            headers["Allow"] = ", ".join(allowed)
        return _errors(exc.status_code, str(exc.detail), headers=headers)

    # --- sessions ----------------------------------------------------------------------

    def issue(member: Member) -> str:
        issued = time.time()
        # exp is whole seconds, rounded up: a token lives token_ttl_s at least
        expires = math.ceil(issued) + options.token_ttl_s
        claims = {"sub": str(member.id), "iat": int(issued), "exp": expires}
        return jwt.encode(claims, options.secret, algorithm="HS256")

    def caller(request: Request, *, required: bool) -> tuple[Member, str] | None:
        header = request.headers.get("authorization")
        if header is None:
            if required and "default-user" in defects and library.members:
                first = min(library.members)
                return library.members[first], issue(library.members[first])
            if required:
                raise LibraryError(401, "missing Authorization: Token <jwt>")
            return None
        scheme, _, token = header.partition(" ")
        if scheme != "Token" or not token.strip():
            raise LibraryError(401, "Authorization must be 'Token <jwt>'")
        try:
            claims = jwt.decode(
                token.strip(),
                options.secret,
                algorithms=["HS256"],
                options={
                    "verify_signature": "forged-token" not in defects,
                    "verify_exp": "expired-token" not in defects,
                    "require": ["exp", "sub"],
                },
            )
            member_id = int(claims["sub"])
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise LibraryError(401, "the token is invalid or expired") from None
        member = library.member(member_id, closed_ok="deleted-account-token" in defects)
        if member is None:
            raise LibraryError(401, "the token's account does not exist") from None
        return member, token.strip()

    async def signed_in(request: Request) -> tuple[Member, str]:
        found = caller(request, required=True)
        assert found is not None
        return found

    async def maybe_signed_in(request: Request) -> Member | None:
        found = caller(request, required=False)
        return found[0] if found else None

    Session = Annotated[tuple[Member, str], Depends(signed_in)]
    Viewer = Annotated[Member | None, Depends(maybe_signed_in)]
    Slug = Annotated[str, Path()]  # no such book for any other string: 404, not 422
    ItemId = Annotated[int, Path(ge=1)]
    Limit = Annotated[int, Query(ge=1, le=100)]
    Cursor = Annotated[str | None, Query(min_length=1, max_length=200)]

    def location(path: str) -> dict[str, str]:
        return {} if "no-location" in defects else {"Location": BASE_PATH + path}

    router = APIRouter(prefix=BASE_PATH, redirect_slashes=False)

    # --- users -------------------------------------------------------------------------

    @router.post("/users/login")
    async def login(body: LoginRequest) -> Response:
        member = library.login(body.user.email, body.user.password)
        return render.json(200, {"user": render.user(member, issue(member))})

    @router.post("/users")
    async def create_user(body: NewUserRequest) -> Response:
        try:
            member = library.register(body.user.email, body.user.username, body.user.password)
        except LibraryError as e:
            if e.status == 409 and "duplicate-400" in defects:
                raise LibraryError(400, e.message) from None
            raise
        return render.json(201, {"user": render.user(member, issue(member))})

    @router.get("/user")
    async def current_user(session: Session) -> Response:
        member, token = session
        return render.json(200, {"user": render.user(member, token)})

    @router.put("/user")
    async def update_current_user(body: UpdateUserRequest, session: Session) -> Response:
        member, _ = session
        changes = {name: getattr(body.user, name) for name in body.user.model_fields_set}
        library.update_member(member, changes)
        return render.json(200, {"user": render.user(member, issue(member))})

    @router.delete("/user")
    async def delete_current_user(session: Session) -> Response:
        library.close(session[0])
        return Response(status_code=204)

    # --- books -------------------------------------------------------------------------

    @router.get("/books")
    async def list_books(
        viewer: Viewer,
        limit: Limit = 20,
        cursor: Cursor = None,
        author: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    ) -> Response:
        if limit == 100 and "server-error" in defects:
            raise RuntimeError("page size at the maximum overflows the page buffer")
        page, next_cursor, count = library.page_of_books(limit=limit, cursor=cursor, author=author)
        if "cursor-repeats" in defects and cursor is not None and cursor in library.books:
            page = [library.books[cursor], *page[: limit - 1]]
        if "count-per-page" in defects:
            count = len(page)
        body = {
            "books": [render.book(b, viewer) for b in page],
            "next_cursor": next_cursor,
            "books_count": count,
        }
        return render.json(200, body, listing=True)

    @router.post("/books")
    async def create_book(session: Session, request: Request) -> Response:
        body = await _book_body(request, lax="lax-validation" in defects)
        book = library.add_book(session[0], body.book.given())
        status = 200 if "create-200" in defects else 201
        return render.json(
            status, {"book": render.book(book, session[0])}, location(f"/books/{book.slug}")
        )

    @router.get("/books/{slug}")
    async def get_book(slug: Slug, viewer: Viewer) -> Response:
        return render.json(200, {"book": render.book(library.book(slug), viewer)}, listing=True)

    @router.put("/books/{slug}")
    async def update_book(slug: Slug, body: UpdateBookRequest, session: Session) -> Response:
        book = library.book(slug)
        library.update_book(session[0], book, body.book.given())
        return render.json(200, {"book": render.book(book, session[0])})

    @router.delete("/books/{slug}")
    async def delete_book(slug: Slug, session: Session) -> Response:
        book = library.book(slug)
        library.remove_book(session[0], book)
        return Response(status_code=204)

    @router.post("/books/{slug}/favorite")
    async def favorite_book(slug: Slug, session: Session) -> Response:
        book = library.book(slug)
        book.favorited_by.add(session[0].id)
        return render.json(200, {"book": render.book(book, session[0])})

    @router.delete("/books/{slug}/favorite")
    async def unfavorite_book(slug: Slug, session: Session) -> Response:
        book = library.book(slug)
        book.favorited_by.discard(session[0].id)
        return render.json(200, {"book": render.book(book, session[0])})

    # --- reviews -----------------------------------------------------------------------

    @router.get("/books/{slug}/reviews")
    async def list_reviews(slug: Slug) -> Response:
        reviews = library.reviews_of(library.book(slug))
        body = {"reviews": [render.review(r) for r in reviews], "reviews_count": len(reviews)}
        return render.json(200, body)

    @router.post("/books/{slug}/reviews")
    async def create_review(slug: Slug, body: ReviewRequest, session: Session) -> Response:
        book = library.book(slug)
        review = library.add_review(session[0], book, body.review.body, body.review.rating)
        return render.json(
            201, {"review": render.review(review)}, location(f"/books/{slug}/reviews/{review.id}")
        )

    @router.get("/books/{slug}/reviews/{id}")
    async def get_review(slug: Slug, id: ItemId) -> Response:
        review = library.review(library.book(slug), id)
        return render.json(200, {"review": render.review(review)})

    @router.delete("/books/{slug}/reviews/{id}")
    async def delete_review(slug: Slug, id: ItemId, session: Session) -> Response:
        library.remove_review(session[0], library.review(library.book(slug), id))
        return Response(status_code=204)

    # --- loans -------------------------------------------------------------------------

    @router.get("/loans")
    async def list_loans(session: Session, limit: Limit = 20, cursor: Cursor = None) -> Response:
        page, next_cursor, count = library.page_of_loans(session[0], limit=limit, cursor=cursor)
        body = {
            "loans": [render.loan(loan) for loan in page],
            "next_cursor": next_cursor,
            "loans_count": count,
        }
        return render.json(200, body)

    @router.post("/loans")
    async def create_loan(
        body: NewLoanRequest,
        session: Session,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
        ] = None,
    ) -> Response:
        if options.lending_paused:
            raise LibraryError(
                503, "lending is paused for maintenance",
                {"Retry-After": str(options.retry_after_s)},
            )  # fmt: skip
        key = None if "ignore-idempotency-key" in defects else idempotency_key
        loan, _ = library.lend(session[0], body.loan.book, body.loan.days, key)
        return render.json(201, {"loan": render.loan(loan)}, location(f"/loans/{loan.id}"))

    @router.get("/loans/{id}")
    async def get_loan(id: ItemId, session: Session) -> Response:
        loan = library.loan(session[0], id, check_owner="loan-leak" not in defects)
        return render.json(200, {"loan": render.loan(loan)})

    @router.patch("/loans/{id}")
    async def return_loan(id: ItemId, body: LoanUpdateRequest, session: Session) -> Response:
        loan = library.give_back(library.loan(session[0], id))
        return render.json(200, {"loan": render.loan(loan)})

    app.include_router(router)
    _seed(library, options)
    return app


async def _book_body(request: Request, *, lax: bool) -> NewBookRequest:
    """CreateBook's body; the `lax-validation` defect skips the bounds on two numbers."""
    from pydantic import ValidationError

    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if not (media_type == "application/json" or media_type.endswith("+json")):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "the body must be application/json", "type": "json"}]
        )
    try:
        raw = await request.json()
    except ValueError:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "the body is not JSON", "type": "json_invalid"}]
        ) from None
    if lax and isinstance(raw, dict) and isinstance(raw.get("book"), dict):
        book = raw["book"]
        bounded = ("copies", "publishedYear")
        saved = {k: book.pop(k) for k in bounded if isinstance(book.get(k), int)}
        try:
            placeholders = {"copies": 1, "publishedYear": 2000}  # in bounds, replaced below
            stand_ins = {k: placeholders[k] for k in saved}
            parsed = NewBookRequest.model_validate({"book": {**book, **stand_ins}})
        except ValidationError as e:
            raise RequestValidationError(_located(e)) from None
        for name, value in saved.items():
            setattr(parsed.book, name, value)
        parsed.book.model_fields_set.update(saved)
        return parsed
    try:
        return NewBookRequest.model_validate(raw)
    except ValidationError as e:
        raise RequestValidationError(_located(e)) from None


def _located(error: Any) -> list[dict[str, Any]]:
    return [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]


def _seed(library: Library, options: LibraryOptions) -> None:
    members = [library.register(*account) for account in options.members]
    if not members:
        return
    rng = random.Random(options.seed)
    for n in range(options.seed_books):
        library.add_book(
            members[0],
            {
                "isbn": "978" + "".join(rng.choices("0123456789", k=10)),
                "title": f"Seed Book {n + 1}",
                "authors": ["A. Writer"],
                "copies": 2,
                "tags": ["seed"],
            },
        )


def make_server(
    options: LibraryOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
) -> uvicorn.Server:
    """A uvicorn server for the library (run it with `.run()`, in a thread if need be)."""
    config = uvicorn.Config(
        create_app(options), host=host, port=port, log_level=log_level, access_log=False
    )
    return uvicorn.Server(config)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: a free port")
    parser.add_argument("--defects", default=None, help="comma-separated (README.md)")
    parser.add_argument("--token-ttl", type=int, default=None, help="token lifetime, seconds")
    parser.add_argument("--lending-paused", action="store_true", help="CreateLoan answers 503")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.token_ttl is not None:
        overrides["token_ttl_s"] = args.token_ttl
    if args.lending_paused:
        overrides["lending_paused"] = True
    try:
        if args.defects is not None:
            overrides["defects"] = parse_defects(args.defects)
        options = LibraryOptions.from_env(**overrides)
    except ValueError as e:  # an unknown defect, a LIBRARY_* variable that is no number
        parser.error(str(e))
    make_server(options, host=args.host, port=args.port, log_level="info").run()


if __name__ == "__main__":
    main()
