"""The slice of Dio 5 that the seed's client stands on, ported to httpx (asyncio).

Not the seed's code (that is seed_port.py) but the library under it: the
seed's bugs only show if Dio's own semantics are kept. These are:

- `Dio.request` merges the call's `Options` into the instance's `BaseOptions`
  (headers case-insensitively, `extra`, timeouts) into one `RequestOptions`.
- Interceptors run in the order they were added: every `on_request`, the
  request, then every `on_response`, or every `on_error` in turn.
  `handler.next(err)` passes the error on; `handler.resolve(response)` ends
  the call with that response and skips the interceptors after it.
- A status outside 200-299 is a `badResponse` DioException that carries the
  response (Dio's default validateStatus).
- A body is decoded as JSON when its content type says JSON (an empty one is
  null), else it is the text; broken JSON is an `unknown` DioException.
- Transport failures map as Dio's IO adapter maps them: connect timeout ->
  `connectionTimeout`, refused connect -> `connectionError`, write timeout ->
  `sendTimeout`, read timeout -> `receiveTimeout`, anything else (reset, close)
  -> `unknown`.
- A `CancelToken` aborts the request in flight and fails every later request
  that carries it. Each interceptor step races the token (Dio's
  listenCancelForAsyncTask): when the token wins, the chain goes on with a
  `cancel` error, and the step that lost keeps running, as a Dart future does.
- `fetch(options)` sends the options as they are, through this instance's
  interceptors only (none on a bare `Dio()`).
- `BaseOptions()` has no timeouts and no headers.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx


class DioExceptionType(StrEnum):
    CONNECTION_TIMEOUT = "connectionTimeout"
    SEND_TIMEOUT = "sendTimeout"
    RECEIVE_TIMEOUT = "receiveTimeout"
    BAD_RESPONSE = "badResponse"
    CANCEL = "cancel"
    CONNECTION_ERROR = "connectionError"
    UNKNOWN = "unknown"


class CancelToken:
    def __init__(self) -> None:
        self._cancelled = asyncio.Event()
        self.reason: str | None = None

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self, reason: str = "cancelled") -> None:
        if not self.is_cancelled:
            self.reason = reason
            self._cancelled.set()

    async def when_cancel(self) -> None:
        await self._cancelled.wait()


@dataclass
class BaseOptions:
    base_url: str = ""
    connect_timeout_s: float | None = None
    receive_timeout_s: float | None = None
    send_timeout_s: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Options:
    method: str | None = None
    headers: dict[str, str] | None = None
    extra: dict[str, Any] | None = None


@dataclass
class RequestOptions:
    method: str
    path: str
    base_url: str
    headers: httpx.Headers  # case-insensitive, as Dio's
    query_parameters: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    connect_timeout_s: float | None = None
    receive_timeout_s: float | None = None
    send_timeout_s: float | None = None
    cancel_token: CancelToken | None = None

    @property
    def url(self) -> str:
        if re.match(r"https?:", self.path):
            return self.path
        scheme, sep, rest = (self.base_url + self.path).partition(":/")
        return scheme + sep + rest.replace("//", "/")


@dataclass
class Response:
    data: Any
    status_code: int
    headers: httpx.Headers
    request_options: RequestOptions


class DioException(Exception):
    def __init__(
        self,
        type: DioExceptionType,
        request_options: RequestOptions,
        *,
        response: Response | None = None,
        error: object = None,
        message: str | None = None,
    ) -> None:
        super().__init__(message or str(error or type.value))
        self.type = type
        self.request_options = request_options
        self.response = response
        self.error = error
        self.message = message


class RequestInterceptorHandler:
    def __init__(self) -> None:
        self.options: RequestOptions | None = None

    def next(self, options: RequestOptions) -> None:
        self.options = options


class ResponseInterceptorHandler:
    def __init__(self) -> None:
        self.response: Response | None = None

    def next(self, response: Response) -> None:
        self.response = response


class ErrorInterceptorHandler:
    def __init__(self) -> None:
        self.error: DioException | None = None
        self.response: Response | None = None

    def next(self, err: DioException) -> None:
        self.error = err

    def resolve(self, response: Response) -> None:
        self.response = response


class Interceptor:
    """Passes everything on; subclasses override the hooks they need."""

    async def on_request(self, options: RequestOptions, handler: RequestInterceptorHandler) -> None:
        handler.next(options)

    async def on_response(self, response: Response, handler: ResponseInterceptorHandler) -> None:
        handler.next(response)

    async def on_error(self, err: DioException, handler: ErrorInterceptorHandler) -> None:
        handler.next(err)


# Interceptor steps that lost a race with their cancel token: Dart cannot stop a
# future, so they run on; kept here so that asyncio does not collect them.
_RUNNING_ON: set[asyncio.Task[Any]] = set()


def _run_on(task: asyncio.Task[Any]) -> None:
    _RUNNING_ON.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Task[Any]) -> None:
    _RUNNING_ON.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: Dart drops a lost future's error silently


def _cancelled(options: RequestOptions) -> DioException:
    token = options.cancel_token
    return DioException(
        DioExceptionType.CANCEL,
        options,
        error=token.reason if token else None,
        message="The request was manually cancelled by the user.",
    )


async def _finished_first(token: CancelToken, task: asyncio.Future[Any]) -> bool:
    """Wait for `task` or the token's cancellation; True when the task finished."""
    cancelled = asyncio.ensure_future(token.when_cancel())
    try:
        await asyncio.wait({task, cancelled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancelled.cancel()
    return task.done()


async def _listen_cancel[T](options: RequestOptions, step: Coroutine[Any, Any, T]) -> T:
    """Dio's listenCancelForAsyncTask: an interceptor step against the cancel token."""
    token = options.cancel_token
    if token is None:
        return await step
    task = asyncio.ensure_future(step)
    if await _finished_first(token, task):
        return task.result()
    _run_on(task)
    raise _cancelled(options)


class Dio:
    def __init__(self, options: BaseOptions | None = None) -> None:
        self.options = options or BaseOptions()
        self.interceptors: list[Interceptor] = []
        self._http = httpx.AsyncClient(timeout=None)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        path: str,
        *,
        data: Any = None,
        query_parameters: dict[str, Any] | None = None,
        cancel_token: CancelToken | None = None,
        options: Options | None = None,
    ) -> Response:
        options = options or Options()
        base = self.options
        headers = httpx.Headers(base.headers)
        for name, value in (options.headers or {}).items():
            headers[name] = value
        return await self.fetch(
            RequestOptions(
                method=(options.method or "GET").upper(),
                path=path,
                base_url=base.base_url,
                headers=headers,
                query_parameters=dict(query_parameters or {}),
                data=data,
                extra=dict(options.extra or {}),
                connect_timeout_s=base.connect_timeout_s,
                receive_timeout_s=base.receive_timeout_s,
                send_timeout_s=base.send_timeout_s,
                cancel_token=cancel_token,
            )
        )

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self._method("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self._method("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Response:
        return await self._method("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Response:
        return await self._method("DELETE", path, **kwargs)

    async def _method(self, method: str, path: str, **kwargs: Any) -> Response:
        options: Options = kwargs.pop("options", None) or Options()
        options.method = method
        return await self.request(path, options=options, **kwargs)

    async def fetch(self, options: RequestOptions) -> Response:
        try:
            for interceptor in self.interceptors:
                on_request = RequestInterceptorHandler()
                await _listen_cancel(options, interceptor.on_request(options, on_request))
                options = _passed(interceptor, on_request.options)
            response = await self._dispatch(options)
        except DioException as e:
            return await self._on_error(e)
        for interceptor in self.interceptors:
            on_response = ResponseInterceptorHandler()
            await interceptor.on_response(response, on_response)
            response = _passed(interceptor, on_response.response)
        return response

    async def _on_error(self, error: DioException) -> Response:
        for interceptor in self.interceptors:
            handler = ErrorInterceptorHandler()
            if error.type is DioExceptionType.CANCEL:
                await interceptor.on_error(error, handler)  # no race: already cancelled
            else:
                try:
                    await _listen_cancel(
                        error.request_options, interceptor.on_error(error, handler)
                    )
                except DioException as cancelled:
                    error = cancelled
                    continue
            if handler.response is not None:
                return handler.response
            error = _passed(interceptor, handler.error)
        raise error

    async def _dispatch(self, options: RequestOptions) -> Response:
        token = options.cancel_token
        if token is not None and token.is_cancelled:
            raise _cancelled(options)
        headers = httpx.Headers(options.headers)
        content = None
        if options.data is not None:
            content = _encode(options.data)
            headers.setdefault("Content-Type", "application/json")
        request = self._http.build_request(
            options.method,
            options.url,
            params=options.query_parameters or None,
            headers=headers,
            content=content,
            timeout=httpx.Timeout(
                connect=options.connect_timeout_s,
                read=options.receive_timeout_s,
                write=options.send_timeout_s,
                pool=None,
            ),
        )
        sending = asyncio.ensure_future(self._http.send(request))
        try:
            if token is not None and not await _finished_first(token, sending):
                sending.cancel()  # Dio aborts the request: the connection closes
                await asyncio.gather(sending, return_exceptions=True)
                raise _cancelled(options)
            raw = await sending
        except httpx.HTTPError as e:
            raise DioException(_transport_type(e), options, error=e, message=str(e)) from e
        finally:
            sending.cancel()  # a no-op once it is done
        try:
            data = _decode(raw)
        except ValueError as e:
            raise DioException(DioExceptionType.UNKNOWN, options, error=e) from e
        response = Response(data, raw.status_code, raw.headers, options)
        if not 200 <= raw.status_code < 300:
            raise DioException(
                DioExceptionType.BAD_RESPONSE,
                options,
                response=response,
                message=f"This exception was thrown because the response has a status code of "
                f"{raw.status_code} and RequestOptions.validateStatus was configured to throw "
                "for this status code.",
            )
        return response


def _passed[T](interceptor: Interceptor, value: T | None) -> T:
    # In Dart a handler nobody calls leaves the call pending forever; here it is a bug.
    if value is None:
        raise RuntimeError(f"{type(interceptor).__name__} called no handler")
    return value


def json_encode(value: Any) -> str:
    """Dart's jsonEncode: no spaces, characters as they are, no NaN."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _encode(data: Any) -> bytes:
    # Dio's transformer: maps and lists become JSON, strings go as they are.
    return (data if isinstance(data, str) else json_encode(data)).encode()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Unexpected character: {name}")  # Dart's jsonDecode has no NaN


def _decode(raw: httpx.Response) -> Any:
    mime = raw.headers.get("content-type", "").split(";")[0].strip().lower()
    text = raw.content.decode("utf-8", errors="replace")
    if mime in ("application/json", "text/json") or mime.endswith("+json"):
        return json.loads(text, parse_constant=_reject_constant) if text else None
    return text


def _transport_type(error: httpx.HTTPError) -> DioExceptionType:
    if isinstance(error, httpx.ConnectTimeout):
        return DioExceptionType.CONNECTION_TIMEOUT
    if isinstance(error, httpx.ConnectError):
        return DioExceptionType.CONNECTION_ERROR
    if isinstance(error, httpx.WriteTimeout):
        return DioExceptionType.SEND_TIMEOUT
    if isinstance(error, httpx.ReadTimeout):
        return DioExceptionType.RECEIVE_TIMEOUT
    return DioExceptionType.UNKNOWN
