"""The seed's Dio client, ported faithfully to Python: a deliberately defective
example client, bugs included.

It exists so the harness can show that it condemns a client built like the
seed (shared seed document, a Flutter guide to "API Integration & Data
Handling"). Never use it for anything else. Dio itself is ported in
seed_dio.py; what is here is the seed's own code, section by section:

| seed section                                | here                                  |
|---------------------------------------------|---------------------------------------|
| API Client Implementation                   | `ApiClient` (generic get/post, errors)|
| Adding Retry to API Client                  | `ApiClient.__init__` (the chain order)|
| API Endpoints                               | `ApiEndpoints`                        |
| API Interceptors: AuthInterceptor           | `AuthInterceptor`                     |
| API Interceptors: LoggingInterceptor        | `LoggingInterceptor`                  |
| API Interceptors: ErrorInterceptor          | `ErrorInterceptor`                    |
| Retry Interceptor                           | `RetryInterceptor`                    |
| API Error Handling (_handleError) and the   | `ApiFailure`, `from_dio_exception`    |
| union of UI Error Handling (failure.when)   |                                       |
| Secure Storage Service                      | `SecureStorageService`                |
| Using API Keys from Secure Storage          | `ApiClient.initialize_with_api_key`   |
| App Signature Generation                    | `AppSignatureService`                 |
| Manual JSON Serialization, Handling Nested  | `Product`, `ProductVariant`,          |
| Objects                                     | `ProductCategory`, Dart `DateTime`    |
| Feature Repository                          | `ProductRepository`                   |

What it gets wrong, on purpose, because the seed does: every concurrent 401
refreshes on its own (no lock), with the same refresh token; the replay after
a refresh bypasses every interceptor (`refreshDio.fetch`); any refresh failure,
even a 503, deletes the tokens; POSTs are retried like GETs, with no
Idempotency-Key; 429 is not retried and Retry-After is never read; backoff is
2^n with no jitter, no cap and no retry budget; a retry re-enters the whole
chain from inside the chain (nested), and when it fails the call reports the
*first* attempt's error; the nonce is derived from the clock; the signature
covers `timestamp:nonce:packageName:deviceId` with a hard-coded secret.

Adaptations to the adapter protocol's environment (`AppConfig.from_env`):
the base URL, the API key, the timeouts and the retry delay base come from
the HARNESS_* variables. Only the last changes behaviour, and only in time:
the harness's 50 ms base instead of the seed's 1 s keeps 2^n, but shortens
every wait twentyfold.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.conformance.seed_dio import (
    BaseOptions,
    CancelToken,
    Dio,
    DioException,
    DioExceptionType,
    ErrorInterceptorHandler,
    Interceptor,
    Options,
    RequestInterceptorHandler,
    RequestOptions,
    Response,
    ResponseInterceptorHandler,
)

developer_log = logging.getLogger("API")  # developer.log(..., name: 'API')

# --- configuration (the seed's AppConfig, which it never shows) ------------------


@dataclass(frozen=True)
class AppConfig:
    api_base_url: str  # the seed's 'https://api.example.com/v1': paths below omit /v1
    api_timeout_seconds: float
    api_key: str | None
    sign_requests: bool
    retry_delay_ms: int  # the seed's `retryDelay = const Duration(seconds: 1)`

    @staticmethod
    def from_env(environ: Mapping[str, str]) -> AppConfig:
        return AppConfig(
            # Adaptation: the mock's base URL, with the seed's /v1 mount.
            api_base_url=environ["HARNESS_BASE_URL"].rstrip("/") + "/v1",
            # Adaptation: the seed's AppConfig.apiTimeoutSeconds.
            api_timeout_seconds=float(environ.get("HARNESS_TIMEOUT_S", "10")),
            # Adaptation: the key the seed keeps in secure storage (saved there at start).
            api_key=environ.get("HARNESS_API_KEY") or None,
            # Adaptation: sign when the harness asks for signing; the seed's own secret
            # and scheme are used, never HARNESS_SIGNING_SECRET's.
            sign_requests=bool(environ.get("HARNESS_SIGNING_SECRET")),
            # Adaptation: 1 s in the seed; a smaller base keeps runs fast, 2^n stays.
            retry_delay_ms=int(float(environ.get("HARNESS_RETRY_BASE_MS", "1000"))),
        )


class ApiEndpoints:
    login = "/auth/login"
    register = "/auth/register"
    refresh_token = "/auth/refresh"
    logout = "/auth/logout"  # not in the seed's list (the API has it; see AuthRepository)
    user_profile = "/users/profile"
    update_user = "/users/update"
    get_products = "/products"
    get_product_details = "/products/{id}"

    @staticmethod
    def replace_path_parameters(endpoint: str, parameters: Mapping[str, object]) -> str:
        result = endpoint
        for key, value in parameters.items():
            result = result.replace(f"{{{key}}}", str(value))  # no escaping, as the seed
        return result


# --- the error union ---------------------------------------------------------------


class ApiFailure(Exception):
    """The seed's freezed union; `kind` is the variant's name (serverError, ...).

    `status_code` is that of the DioException it was made from, which after a
    failed retry is the first attempt's (see RetryInterceptor).
    """

    def __init__(
        self, kind: str, message: str, *, status_code: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:  # freezed's toString
        fields = f"message: {self.message}"
        if self.kind == "serverError":
            fields = f"statusCode: {self.status_code}, {fields}, code: {self.code}"
        return f"ApiFailure.{self.kind}({fields})"

    @staticmethod
    def unexpected(message: str) -> ApiFailure:
        return ApiFailure("unexpected", message)

    @staticmethod
    def from_exception(error: Exception) -> ApiFailure:
        """The repositories' mapping (not shown in the seed): failures pass through."""
        if isinstance(error, ApiFailure):
            return error
        if isinstance(error, DioException):
            return ApiFailure.from_dio_exception(error)
        return ApiFailure.unexpected(str(error))

    @staticmethod
    def from_dio_exception(error: DioException) -> ApiFailure:
        """Not shown in the seed: its `_handleError` switch (API Error Handling), with
        the union's variants. Bad responses without a variant of their own, 429
        included (the union has no tooManyRequests), are `serverError`."""
        status = error.response.status_code if error.response is not None else None
        match error.type:
            case (
                DioExceptionType.CONNECTION_TIMEOUT
                | DioExceptionType.SEND_TIMEOUT
                | DioExceptionType.RECEIVE_TIMEOUT
            ):
                message = "Connection timeout. Please check your internet connection."
                return ApiFailure(error.type.value, message, status_code=status)
            case DioExceptionType.BAD_RESPONSE:
                data = error.response.data if error.response is not None else None
                code = data.get("code") if isinstance(data, dict) else None
                message = str(error.error) if error.error is not None else "Server error occurred"
                kind = _KIND_BY_STATUS.get(status or 0, "serverError")
                return ApiFailure(
                    kind, message, status_code=status, code=code if isinstance(code, str) else None
                )
            case DioExceptionType.CANCEL:
                return ApiFailure("requestCancelled", "Request was cancelled")
            case DioExceptionType.CONNECTION_ERROR:
                return ApiFailure(
                    "noInternetConnection", "No internet connection", status_code=status
                )
            case _:
                return ApiFailure("unexpected", "Unexpected error occurred", status_code=status)


_KIND_BY_STATUS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    500: "internalServerError",
}

# --- secure storage and the app signature ------------------------------------------


class SecureStorageService:
    """flutter_secure_storage as an in-memory keystore: the adapter keeps one session
    for its life. Every SecureStorageService() in the seed reaches the same device
    keystore, so the port passes one instance around instead."""

    _access_token_key = "access_token"
    _refresh_token_key = "refresh_token"
    _user_id_key = "user_id"
    _api_key_key = "api_key"

    def __init__(self) -> None:
        self._storage: dict[str, str] = {}

    async def save_access_token(self, token: str) -> None:
        self._storage[self._access_token_key] = _as_string(token)

    async def get_access_token(self) -> str | None:
        return self._storage.get(self._access_token_key)

    async def save_refresh_token(self, token: str) -> None:
        self._storage[self._refresh_token_key] = _as_string(token)

    async def get_refresh_token(self) -> str | None:
        return self._storage.get(self._refresh_token_key)

    async def save_api_key(self, api_key: str) -> None:
        self._storage[self._api_key_key] = api_key

    async def get_api_key(self) -> str | None:
        return self._storage.get(self._api_key_key)

    async def delete_all_tokens(self) -> None:
        for key in (self._access_token_key, self._refresh_token_key, self._user_id_key):
            self._storage.pop(key, None)
        # Don't delete API key as it's usually app-specific, not user-specific


class AppSignatureService:
    package_name = "com.example.app"  # PackageInfo.fromPlatform().packageName
    api_secret = "YOUR_API_SECRET"  # hard-coded in the seed ("Bad practice")

    @staticmethod
    async def get_api_signature_headers() -> dict[str, str]:
        timestamp = str(time.time_ns() // 1_000_000)  # millisecondsSinceEpoch
        nonce = AppSignatureService._generate_nonce()
        signature = await AppSignatureService._generate_signature(timestamp, nonce)
        return {"X-App-Timestamp": timestamp, "X-App-Nonce": nonce, "X-App-Signature": signature}

    @staticmethod
    def _generate_nonce() -> str:
        # millisecondsSinceEpoch + DateTime.now().microsecond (0-999, unpadded): the
        # first 16 base64 characters only cover the first 12 digits, so the nonce
        # changes once every 10 ms.
        random = str(time.time_ns() // 1_000_000) + str(time.time_ns() // 1000 % 1000)
        return base64.b64encode(random.encode()).decode()[:16]

    @staticmethod
    async def _generate_signature(timestamp: str, nonce: str) -> str:
        # Neither Android nor iOS: deviceId stays '', as the seed leaves it there.
        device_id = ""
        data_to_sign = f"{timestamp}:{nonce}:{AppSignatureService.package_name}:{device_id}"
        key = AppSignatureService.api_secret.encode()
        return hmac.new(key, data_to_sign.encode(), hashlib.sha256).hexdigest()


# --- interceptors ------------------------------------------------------------------


class AuthInterceptor(Interceptor):
    def __init__(self, secure_storage: SecureStorageService, config: AppConfig) -> None:
        self._secure_storage = secure_storage
        self._config = config

    async def on_request(self, options: RequestOptions, handler: RequestInterceptorHandler) -> None:
        token = await self._secure_storage.get_access_token()
        if token:
            options.headers["Authorization"] = f"Bearer {token}"
        return handler.next(options)

    async def on_error(self, err: DioException, handler: ErrorInterceptorHandler) -> None:
        # Every 401 refreshes, concurrently with any other: no lock, no check that the
        # token was already replaced.
        if err.response is not None and err.response.status_code == 401:
            refresh_token = await self._secure_storage.get_refresh_token()
            if refresh_token:
                # A new Dio "to avoid interceptor loops": no base options (no API key,
                # no timeouts) and no interceptors (no signature) for the refresh and
                # for the replay.
                refresh_dio = Dio()
                try:
                    refresh_response = await refresh_dio.post(
                        f"{self._config.api_base_url}/auth/refresh",
                        data={"refresh_token": refresh_token},
                    )
                    new_access_token = _index(refresh_response.data, "access_token")
                    new_refresh_token = _index(refresh_response.data, "refresh_token")
                    await self._secure_storage.save_access_token(new_access_token)
                    await self._secure_storage.save_refresh_token(new_refresh_token)
                    # The replay: the first attempt's options (timestamp, nonce and
                    # signature included) with the new bearer, past every interceptor.
                    request_options = err.request_options
                    request_options.headers["Authorization"] = f"Bearer {new_access_token}"
                    response = await refresh_dio.fetch(request_options)
                    return handler.resolve(response)
                except Exception:
                    # Any failure, of the refresh or of the replay, logs the user out.
                    await self._secure_storage.delete_all_tokens()
                finally:
                    await refresh_dio.close()  # the port's only addition: Dart leaks it
        return handler.next(err)


class AppSignatureInterceptor(Interceptor):
    """Where the seed is silent: it never says where getApiSignatureHeaders() goes.
    Its headers are per request (timestamp, nonce), so the plausible place is an
    interceptor's onRequest: every request through the client's Dio, retries
    included, is signed anew; the AuthInterceptor's replay (refreshDio) is not."""

    async def on_request(self, options: RequestOptions, handler: RequestInterceptorHandler) -> None:
        for name, value in (await AppSignatureService.get_api_signature_headers()).items():
            options.headers[name] = value
        return handler.next(options)


class LoggingInterceptor(Interceptor):
    async def on_request(self, options: RequestOptions, handler: RequestInterceptorHandler) -> None:
        developer_log.info("REQUEST[%s] => PATH: %s", options.method, options.path)
        return handler.next(options)

    async def on_response(self, response: Response, handler: ResponseInterceptorHandler) -> None:
        developer_log.info(
            "RESPONSE[%s] => PATH: %s", response.status_code, response.request_options.path
        )
        return handler.next(response)

    async def on_error(self, err: DioException, handler: ErrorInterceptorHandler) -> None:
        status = err.response.status_code if err.response is not None else "null"
        developer_log.info(
            "ERROR[%s] => PATH: %s (error: %s)", status, err.request_options.path, err.message
        )
        return handler.next(err)


class ErrorInterceptor(Interceptor):
    async def on_error(self, err: DioException, handler: ErrorInterceptorHandler) -> None:
        api_failure = ApiFailure.from_dio_exception(err)
        developer_log.info("API Error: %s (error: %s)", api_failure.kind, api_failure)
        # Continue with the original DioException
        return handler.next(err)


class RetryInterceptor(Interceptor):
    def __init__(
        self,
        dio: Dio,
        retries: int = 3,
        retry_delay_ms: int = 1000,
        retry_status_codes: tuple[int, ...] = (408, 500, 502, 503, 504),
        use_exponential_backoff: bool = True,
    ) -> None:
        self.dio = dio
        self.retries = retries
        self.retry_delay_ms = retry_delay_ms
        self.retry_status_codes = retry_status_codes
        self.use_exponential_backoff = use_exponential_backoff

    async def on_error(self, err: DioException, handler: ErrorInterceptorHandler) -> None:
        extra_data = err.request_options.extra
        retry_count: int = extra_data.get("retryCount") or 0  # `?? 0`: never falsy otherwise
        if self._should_retry(err, retry_count):
            # 2^n, no jitter, no cap, Retry-After never read.
            delay_ms = (
                self.retry_delay_ms * 2**retry_count
                if self.use_exponential_backoff
                else self.retry_delay_ms
            )
            await asyncio.sleep(delay_ms / 1000)
            try:
                # Any method, POST included, with no Idempotency-Key; the first
                # attempt's headers, overwritten by whatever the chain sets again.
                options = Options(
                    method=err.request_options.method, headers=dict(err.request_options.headers)
                )
                options.extra = {**err.request_options.extra, "retryCount": retry_count + 1}
                # Back through the whole chain, from inside it: the retry's own
                # failures run every interceptor again, this one included (nested).
                response = await self.dio.request(
                    err.request_options.path,
                    cancel_token=err.request_options.cancel_token,
                    data=err.request_options.data,
                    query_parameters=err.request_options.query_parameters,
                    options=options,
                )
                return handler.resolve(response)
            except Exception:
                # If retry failed, continue with the error: the ORIGINAL one.
                return handler.next(err)
        return handler.next(err)

    def _should_retry(self, err: DioException, retry_count: int) -> bool:
        if retry_count >= self.retries:
            return False
        if err.type in (
            DioExceptionType.CONNECTION_TIMEOUT,
            DioExceptionType.RECEIVE_TIMEOUT,
            DioExceptionType.SEND_TIMEOUT,
        ):
            return True
        return err.response is not None and err.response.status_code in self.retry_status_codes


# --- the client --------------------------------------------------------------------


class ApiClient:
    """The seed's ApiClient as its "Adding Retry to API Client" section builds it,
    with the first section's AppConfig values. Not a singleton here: the adapter
    makes exactly one."""

    def __init__(self, config: AppConfig, secure_storage: SecureStorageService) -> None:
        timeout = config.api_timeout_seconds
        self._secure_storage = secure_storage
        self._dio = Dio(
            BaseOptions(
                base_url=config.api_base_url,
                connect_timeout_s=timeout,
                receive_timeout_s=timeout,
                send_timeout_s=timeout,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
        )
        self._dio.interceptors.append(LoggingInterceptor())
        self._dio.interceptors.append(AuthInterceptor(secure_storage, config))
        if config.sign_requests:
            self._dio.interceptors.append(AppSignatureInterceptor())
        self._dio.interceptors.append(
            RetryInterceptor(
                dio=self._dio,
                retries=3,
                retry_delay_ms=config.retry_delay_ms,
                retry_status_codes=(408, 500, 502, 503, 504),
                use_exponential_backoff=True,
            )
        )
        self._dio.interceptors.append(ErrorInterceptor())

    @property
    def dio(self) -> Dio:
        return self._dio

    async def close(self) -> None:
        await self._dio.close()

    async def initialize_with_api_key(self) -> None:
        api_key = await self._secure_storage.get_api_key()
        if api_key is not None:
            self._dio.options.headers["X-API-Key"] = api_key

    # The seed shows generic get and post; put and delete follow the same template.
    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self._call(self._dio.get, path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        return await self._call(self._dio.post, path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Any:
        return await self._call(self._dio.put, path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        return await self._call(self._dio.delete, path, **kwargs)

    async def _call(
        self,
        send: Callable[..., Any],
        path: str,
        parser: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            response: Response = await send(path, **kwargs)
            return parser(response.data) if parser is not None else response.data
        except Exception as e:  # the parser's errors too
            raise self._handle_error(e) from e

    @staticmethod
    def _handle_error(error: Exception) -> ApiFailure:
        if isinstance(error, DioException):
            return ApiFailure.from_dio_exception(error)
        return ApiFailure.unexpected(str(error))


# --- JSON models (Dart semantics) --------------------------------------------------


def _dart_type(value: object) -> str:
    names = {type(None): "Null", str: "String", bool: "bool", int: "int", float: "double"}
    if isinstance(value, list):
        return "List<dynamic>"
    if isinstance(value, dict):
        return "_Map<String, dynamic>"
    return names.get(type(value), type(value).__name__)


def _cast_error(value: object, to: str) -> TypeError:
    return TypeError(f"type '{_dart_type(value)}' is not a subtype of type '{to}'")


def _as_string(value: object) -> str:
    if not isinstance(value, str):
        raise _cast_error(value, "String")
    return value


def _as_string_or_null(value: object) -> str | None:
    return None if value is None else _as_string(value)


def _as_num_to_double(value: object) -> float:  # (json['price'] as num).toDouble()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _cast_error(value, "num")
    return float(value)


def _as_list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise _cast_error(value, "List<dynamic>")
    return value


def _as_map(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _cast_error(value, "Map<String, dynamic>")
    return value


def _index(value: object, key: str) -> Any:
    """`data['key']` on a dynamic: null for a missing key, an error on a non-map."""
    if not isinstance(value, dict):
        raise TypeError(f"NoSuchMethodError: '[]' on {_dart_type(value)}")
    return value.get(key)


_DART_DATE = re.compile(
    r"^([+-]?\d{4,6})-?(\d\d)-?(\d\d)"
    r"(?:[ T](\d\d)(?::?(\d\d)(?::?(\d\d)(?:[.,](\d+))?)?)?"
    r"( ?[zZ]| ?([-+])(\d\d)(?::?(\d\d))?)?)?$",
    re.ASCII,
)


def parse_date_time(text: str) -> datetime:
    """Dart's DateTime.parse: with an offset, a UTC DateTime (the offset is gone);
    without one, a local (naive) one; digits past the microsecond are dropped."""
    match = _DART_DATE.match(text)
    if match is None:
        raise ValueError(f"Invalid date format\n{text}")  # FormatException
    year, month, day, hour, minute, second, fraction, zone, sign, zone_h, zone_m = match.groups()
    moment = datetime(int(year), int(month), int(day)) + timedelta(
        hours=int(hour or 0),
        minutes=int(minute or 0),
        seconds=int(second or 0),
        microseconds=int((fraction or "")[:6].ljust(6, "0")),
    )
    if zone is None:
        return moment
    if sign is not None:
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m or 0))
        moment -= offset if sign == "+" else -offset
    return moment.replace(tzinfo=UTC)


def to_iso8601_string(moment: datetime) -> str:
    """Dart's toIso8601String: always milliseconds, microseconds when not zero, and
    'Z' for a UTC DateTime (never an offset)."""
    ms, us = divmod(moment.microsecond, 1000)
    text = f"{moment:%Y-%m-%dT%H:%M:%S}.{ms:03d}" + (f"{us:03d}" if us else "")
    return text + ("Z" if moment.tzinfo is not None else "")


@dataclass
class ProductVariant:  # @JsonSerializable(): keys are the field names
    id: str
    name: str
    price: float

    @staticmethod
    def from_json(json: dict[str, Any]) -> ProductVariant:
        return ProductVariant(
            id=_as_string(json.get("id")),
            name=_as_string(json.get("name")),
            price=_as_num_to_double(json.get("price")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "price": self.price}


@dataclass
class ProductCategory:  # @JsonSerializable()
    id: str
    name: str

    @staticmethod
    def from_json(json: dict[str, Any]) -> ProductCategory:
        return ProductCategory(id=_as_string(json.get("id")), name=_as_string(json.get("name")))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass
class Product:
    """The seed shows Product twice: by hand (image_urls, created_at, description)
    and with json_serializable (variants, category). The API's product has all of
    them, so this is the union, each field read and written as its section does."""

    id: str
    name: str
    price: float  # double: an integer price comes back as 20.0
    description: str | None
    image_urls: list[str]
    created_at: datetime
    variants: list[ProductVariant]
    category: ProductCategory

    @staticmethod
    def from_json(json: dict[str, Any]) -> Product:
        return Product(
            id=_as_string(json.get("id")),
            name=_as_string(json.get("name")),
            price=_as_num_to_double(json.get("price")),
            description=_as_string_or_null(json.get("description")),
            image_urls=[_as_string(url) for url in _as_list(json.get("image_urls"))],
            created_at=parse_date_time(_as_string(json.get("created_at"))),
            # explicitToJson: true, generated code: `(json['variants'] as List<dynamic>)`
            variants=[ProductVariant.from_json(_as_map(v)) for v in _as_list(json.get("variants"))],
            category=ProductCategory.from_json(_as_map(json.get("category"))),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "price": self.price,
            "description": self.description,
            "image_urls": self.image_urls,
            "created_at": to_iso8601_string(self.created_at),
            "variants": [v.to_json() for v in self.variants],
            "category": self.category.to_json(),
        }


def _products(data: Any) -> list[Product]:  # retrofit: (data as List).map(Product.fromJson)
    return [Product.from_json(_as_map(item)) for item in _as_list(data)]


def _product(data: Any) -> Product:
    return Product.from_json(_as_map(data))


# --- repositories ------------------------------------------------------------------


async def _repository_call[T](call: Awaitable[T]) -> T:
    """The seed's repositories: `try { ... } catch (e) { throw ApiFailure.fromException(e); }`."""
    try:
        return await call
    except Exception as e:
        raise ApiFailure.from_exception(e) from e


class ProductRepository:
    """The seed's repository calls a retrofit ApiService (not shown) on ApiClient().dio;
    the port calls ApiClient's generic methods: the same Dio, the same errors.

    Where the seed is silent: its repository takes no CancelToken, but its
    ApiClient methods and RetryInterceptor carry one; the port threads an
    optional one through, as an app that cancels would. And createProduct takes
    the seed's Product, whose server-assigned fields (id, created_at) the API's
    strict input rejects: the port sends the input map as given (jsonEncode'd),
    so that the retry defects show rather than a 422."""

    def __init__(self, api_client: ApiClient) -> None:
        self._api = api_client

    async def get_products(
        self,
        page: int = 1,
        page_size: int = 20,
        category: str | None = None,
        cancel_token: CancelToken | None = None,
    ) -> list[Product]:
        query: dict[str, Any] = {"page": page, "page_size": page_size}
        if category is not None:  # retrofit drops null query parameters
            query["category"] = category
        return await _repository_call(
            self._api.get(
                ApiEndpoints.get_products,
                query_parameters=query,
                parser=_products,
                cancel_token=cancel_token,
            )
        )

    async def get_product_details(
        self, product_id: str, cancel_token: CancelToken | None = None
    ) -> Product:
        return await _repository_call(
            self._api.get(_product_path(product_id), parser=_product, cancel_token=cancel_token)
        )

    async def create_product(
        self, product: dict[str, Any], cancel_token: CancelToken | None = None
    ) -> Product:
        return await _repository_call(
            self._api.post(
                ApiEndpoints.get_products, data=product, parser=_product, cancel_token=cancel_token
            )
        )

    async def update_product(
        self, product_id: str, product: dict[str, Any], cancel_token: CancelToken | None = None
    ) -> Product:
        return await _repository_call(
            self._api.put(
                _product_path(product_id), data=product, parser=_product, cancel_token=cancel_token
            )
        )

    async def delete_product(
        self, product_id: str, cancel_token: CancelToken | None = None
    ) -> None:
        await _repository_call(
            self._api.delete(_product_path(product_id), cancel_token=cancel_token)
        )


def _product_path(product_id: str) -> str:
    return ApiEndpoints.replace_path_parameters(
        ApiEndpoints.get_product_details, {"id": product_id}
    )


class AuthRepository:
    """Not in the seed, which only names the endpoints: login saves both tokens,
    which its AuthInterceptor reads; logout calls the API, then deletes the tokens
    as the AuthInterceptor does when a refresh fails."""

    def __init__(self, api_client: ApiClient, secure_storage: SecureStorageService) -> None:
        self._api = api_client
        self._secure_storage = secure_storage

    async def login(
        self, email: str, password: str, cancel_token: CancelToken | None = None
    ) -> Any:
        try:
            data = await self._api.post(
                ApiEndpoints.login,
                data={"email": email, "password": password},
                cancel_token=cancel_token,
            )
            await self._secure_storage.save_access_token(_index(data, "access_token"))
            await self._secure_storage.save_refresh_token(_index(data, "refresh_token"))
        except Exception as e:
            raise ApiFailure.from_exception(e) from e
        return data

    async def logout(self, cancel_token: CancelToken | None = None) -> None:
        try:
            await _repository_call(self._api.post(ApiEndpoints.logout, cancel_token=cancel_token))
        finally:
            await self._secure_storage.delete_all_tokens()


class UserRepository:
    """Not in the seed either: it has no User model, so profiles stay decoded JSON."""

    def __init__(self, api_client: ApiClient) -> None:
        self._api = api_client

    async def get_profile(self, cancel_token: CancelToken | None = None) -> Any:
        return await _repository_call(
            self._api.get(ApiEndpoints.user_profile, cancel_token=cancel_token)
        )

    async def update_profile(
        self, name: str | None, email: str | None, cancel_token: CancelToken | None = None
    ) -> Any:
        data = {
            key: value for key, value in (("name", name), ("email", email)) if value is not None
        }
        return await _repository_call(
            self._api.put(ApiEndpoints.update_user, data=data, cancel_token=cancel_token)
        )


class SeedApp:
    """An app built like the seed: one ApiClient, its storage, its repositories."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.storage = SecureStorageService()
        self.api = ApiClient(config, self.storage)
        self.auth = AuthRepository(self.api, self.storage)
        self.users = UserRepository(self.api)
        self.products = ProductRepository(self.api)

    async def start(self) -> None:
        if self.config.api_key is not None:
            await self.storage.save_api_key(self.config.api_key)
        await self.api.initialize_with_api_key()

    async def close(self) -> None:
        await self.api.close()
