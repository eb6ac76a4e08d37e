"""The users and products endpoints, served from the seeded store."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from mitmproxy import http
from pydantic import TypeAdapter

from contracts import models
from contracts.operations import API_PREFIX
from mocks.handlers import OperationHandlers
from mocks.notes import RequestNote
from mocks.problems import ProblemError
from mocks.state import MockState
from mocks.store import EmailTaken
from mocks.wire import empty_response, json_response, read_model

_PRODUCT_LIST = TypeAdapter(list[models.Product])
_PRODUCTS_PATH = API_PREFIX + "/products"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class Api(OperationHandlers):
    def __init__(self, state: MockState) -> None:
        self._state = state
        super().__init__(
            {
                "getProfile": self._get_profile,
                "updateProfile": self._update_profile,
                "listProducts": self._list_products,
                "createProduct": self._create_product,
                "getProduct": self._get_product,
                "updateProduct": self._update_product,
                "deleteProduct": self._delete_product,
            }
        )

    # --- users ----------------------------------------------------------------

    def _user(self, n: RequestNote) -> str:
        if n.user_id is None or n.user_id not in self._state.store.users:
            raise ProblemError(404, "user_not_found", "The signed-in user no longer exists.")
        return n.user_id

    def _get_profile(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        user = self._state.store.users[self._user(n)]
        return json_response(200, user.to_model().model_dump_json().encode())

    def _update_profile(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        body = read_model(flow, models.UserUpdate)
        try:
            user = self._state.store.update_user(self._user(n), body.name, body.email)
        except EmailTaken:
            raise ProblemError(409, "email_taken", "Another account uses this email.") from None
        n.effect = {"kind": "user_updated", "id": user.id}
        return json_response(200, user.to_model().model_dump_json().encode())

    # --- products -------------------------------------------------------------

    def _product_id(self, n: RequestNote) -> str:
        product_id = n.params.get("id", "")
        if product_id not in self._state.store.products:
            raise ProblemError(404, "product_not_found", f"No product with id {product_id!r}.")
        return product_id

    def _owned_product_id(self, n: RequestNote) -> str:
        """The product's id if the signed-in user owns it. Reading is public, so a
        product's existence is no secret: someone else's product is a 403, not a 404."""
        product_id = self._product_id(n)
        if self._state.store.owners.get(product_id) != n.user_id:
            raise ProblemError(
                403,
                "not_product_owner",
                f"Product {product_id!r} belongs to another user; only its owner may change it.",
            )
        return product_id

    def _list_products(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        page, page_size, category = _list_query(flow)
        products, total = self._state.store.page(page, page_size, category)
        last = max(1, -(-total // page_size))
        base = {"page_size": str(page_size)} | ({"category": category.value} if category else {})

        def link(target: int, rel: str) -> str:
            query = urlencode({"page": str(target)} | base)
            return f'<{_PRODUCTS_PATH}?{query}>; rel="{rel}"'

        links = [link(1, "first")]
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
        links.append(link(last, "last"))
        headers = {"X-Total-Count": str(total), "Link": ", ".join(links)}
        return json_response(200, _PRODUCT_LIST.dump_json(products), headers)

    def _create_product(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        body = read_model(flow, models.ProductInput)
        owner = self._user(n)
        product = self._state.store.create_product(body, self._state.clock.now_datetime(), owner)
        n.effect = {"kind": "product_created", "id": product.id}
        location = f"{_PRODUCTS_PATH}/{product.id}"
        return json_response(201, product.model_dump_json().encode(), {"Location": location})

    def _get_product(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        product = self._state.store.products[self._product_id(n)]
        return json_response(200, product.model_dump_json().encode())

    def _update_product(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        product_id = self._owned_product_id(n)
        body = read_model(flow, models.ProductInput)
        product = self._state.store.replace_product(product_id, body)
        n.effect = {"kind": "product_updated", "id": product_id}
        return json_response(200, product.model_dump_json().encode())

    def _delete_product(self, flow: http.HTTPFlow, n: RequestNote) -> http.Response:
        product_id = self._owned_product_id(n)
        self._state.store.delete_product(product_id)
        n.effect = {"kind": "product_deleted", "id": product_id}
        return empty_response(204)


def _list_query(flow: http.HTTPFlow) -> tuple[int, int, models.CategoryId | None]:
    _, _, raw = flow.request.path.partition("?")
    params: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in params:
            raise ProblemError(400, "invalid_parameter", f"Query parameter {key!r} is repeated.")
        params[key] = value
    page = _int_param(params, "page", 1, 1, None)
    page_size = _int_param(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    category = None
    if "category" in params:
        try:
            category = models.CategoryId(params["category"])
        except ValueError:
            known = ", ".join(c.value for c in models.CategoryId)
            raise ProblemError(
                400, "invalid_parameter", f"category must be one of: {known}."
            ) from None
    return page, page_size, category


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    if name not in params:
        return default
    text = params[name]
    if not (text.isascii() and text.isdigit()):
        raise ProblemError(400, "invalid_parameter", f"{name} must be a whole number.")
    # Any page number is valid; past 18 digits it is past the last page anyway.
    value = int(text) if len(text) <= 18 else 10**18
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ProblemError(400, "invalid_parameter", f"{name} must be {bound}.")
    return value
