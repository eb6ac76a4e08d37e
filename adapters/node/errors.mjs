// The client's errors: the seed's error union, one kind per failure.
//
//   kind                  when
//   serverError           502, 503, 504 and other 5xx
//   internalServerError   500
//   connectionTimeout     no connection within the connect timeout
//   sendTimeout           writing the request timed out; 408
//   receiveTimeout        no (complete) response within the read timeout
//   badRequest            400, 422 and other 4xx without a kind of their own
//   unauthorized          401, or the session has ended
//   forbidden             403
//   notFound              404
//   conflict              409
//   tooManyRequests       429 (the seed's union lacks it)
//   noInternetConnection  connection refused, reset or lost; DNS failure
//   requestCancelled      the caller cancelled the call
//   unexpected            a body that is not what the contract says; bad arguments
//
// Every error carries its kind, the HTTP status of the last attempt (or null),
// the problem's machine code when there was one, and how many attempts were made.
// The error a call reports is always its last attempt's.

export class ApiError extends Error {
  constructor(kind, message, { status = null, code = null, retryAfter = null, attempts = 1 } = {}) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, already parsed, or null
    this.attempts = attempts;
  }

  toJSON() {
    return { kind: this.kind, status: this.status, message: this.message };
  }
}

export const kinds = Object.freeze({
  serverError: "serverError",
  internalServerError: "internalServerError",
  connectionTimeout: "connectionTimeout",
  sendTimeout: "sendTimeout",
  receiveTimeout: "receiveTimeout",
  badRequest: "badRequest",
  unauthorized: "unauthorized",
  forbidden: "forbidden",
  notFound: "notFound",
  conflict: "conflict",
  tooManyRequests: "tooManyRequests",
  noInternetConnection: "noInternetConnection",
  requestCancelled: "requestCancelled",
  unexpected: "unexpected",
});

const BY_STATUS = new Map([
  [400, kinds.badRequest],
  [401, kinds.unauthorized],
  [403, kinds.forbidden],
  [404, kinds.notFound],
  [408, kinds.sendTimeout],
  [409, kinds.conflict],
  [429, kinds.tooManyRequests],
  [500, kinds.internalServerError],
]);

export function kindForStatus(status) {
  if (BY_STATUS.has(status)) return BY_STATUS.get(status);
  if (status >= 500) return kinds.serverError;
  if (status >= 400) return kinds.badRequest;
  return kinds.unexpected;
}

export const cancelled = (message = "the call was cancelled") =>
  new ApiError(kinds.requestCancelled, message);
export const unauthorized = (message) => new ApiError(kinds.unauthorized, message);
export const unexpected = (message, options) => new ApiError(kinds.unexpected, message, options);
