// The client: one session (its tokens, its retry throttle) and the call engine.
//
// One call:
// 1. Every attempt builds its request anew through the whole header pipeline:
//    the current access token, the API key, a fresh timestamp and a random
//    128-bit nonce when signing (over the exact bytes sent), and the call's
//    Idempotency-Key (one per call, the same on every attempt).
// 2. A 401 for the token it sent joins the one refresh in flight (or starts it)
//    and replays once with the new token; a second 401 gives up: unauthorized.
// 3. Anything else that failed goes to the retry policy and the throttle.
// 4. The error reported is the last attempt's, mapped to the seed's kinds.
// 5. A cancelled call (its AbortSignal) stops at once: no further attempt, no
//    pending backoff sleep.
// 6. The policy's deadline bounds the whole call: an attempt still running when
//    it passes is aborted (receiveTimeout), and no attempt starts after it.

import { createHash, createHmac, randomBytes } from "node:crypto";

import * as calls from "./calls.mjs";
import { ApiError, cancelled, kindForStatus, kinds, unauthorized, unexpected } from "./errors.mjs";
import { Phase, RetryPolicy, RetryThrottle, parseRetryAfter } from "./retry.mjs";

const USER_AGENT = "api-contract-harness-node-client/0.1";
const STARTS_SESSION = new Set(["login", "register", "refresh"]);

// Error codes of Node's fetch (undici) and sockets, by how far the attempt got.
const NOT_CONNECTED = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL",
  "ENETDOWN",
]);
const CONNECT_TIMEOUT = new Set(["UND_ERR_CONNECT_TIMEOUT"]);
const CONNECTION_LOST = new Set([
  "ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "ETIMEDOUT",
]);

const randomHex = () => randomBytes(16).toString("hex");
const sha256Hex = (bytes) => createHash("sha256").update(bytes).digest("hex");
const isOk = (status) => status >= 200 && status < 300;

export function sign(secret, timestamp, nonce, method, target, body) {
  const message = `${timestamp}:${nonce}:${method.toUpperCase()}:${target}:${sha256Hex(body)}`;
  return createHmac("sha256", secret).update(message).digest("hex");
}

function codesOf(error) {
  const codes = new Set();
  for (let e = error, depth = 0; e && depth < 5; e = e.cause, depth += 1) {
    if (typeof e.code === "string") codes.add(e.code);
    for (const inner of e.errors ?? []) if (typeof inner?.code === "string") codes.add(inner.code);
  }
  return codes;
}

// How far a failed fetch got, and the seed's kind for it.
export function classify(error) {
  const codes = codesOf(error);
  const detail = [...codes].join(", ") || error?.cause?.message || error?.message || String(error);
  const has = (set) => [...codes].some((c) => set.has(c));
  const failed = (phase, kind, message) => ({ phase, error: new ApiError(kind, message) });
  if (has(NOT_CONNECTED)) {
    return failed(Phase.CONNECT, kinds.noInternetConnection, `cannot connect: ${detail}`);
  }
  if (has(CONNECT_TIMEOUT)) {
    return failed(Phase.CONNECT, kinds.connectionTimeout, `connect timed out: ${detail}`);
  }
  // Reset or closed once connected: the request may have reached the server.
  if (has(CONNECTION_LOST) || /terminated|other side closed|socket/i.test(detail)) {
    return failed(Phase.RECEIVE, kinds.noInternetConnection, `connection lost: ${detail}`);
  }
  return failed(Phase.RECEIVE, kinds.unexpected, detail);
}

function problemOf(response) {
  if (!(response.headers.get("content-type") ?? "").includes("json")) return null;
  try {
    const body = JSON.parse(response.body.toString("utf8"));
    return body !== null && typeof body === "object" && !Array.isArray(body) ? body : null;
  } catch {
    return null;
  }
}

export function errorFromResponse(response, attempts) {
  const problem = problemOf(response);
  const code = typeof problem?.code === "string" ? problem.code : null;
  const detail = problem?.detail ? String(problem.detail) : `HTTP ${response.status}`;
  return new ApiError(kindForStatus(response.status), detail, {
    status: response.status,
    code,
    retryAfter: parseRetryAfter(response.headers.get("retry-after")),
    attempts,
  });
}

// A 401 that a refresh can cure: the token was bad, not the credentials.
function tokenRejected(response) {
  const challenge = response.headers.get("www-authenticate") ?? "";
  if (challenge.includes('error="invalid_token"')) return true;
  return String(problemOf(response)?.code ?? "").startsWith("token_");
}

function sleep(seconds, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, seconds * 1000);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// `promise`, or requestCancelled as soon as `signal` aborts (the promise runs on).
function unlessCancelled(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

export class ApiClient {
  constructor({
    baseUrl,
    apiKey = null,
    signingSecret = null,
    timeoutS = 10,
    policy = new RetryPolicy(),
    throttle = new RetryThrottle(),
    log = () => {},
    random = Math.random,
  }) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.signingSecret = signingSecret;
    this.timeoutMs = timeoutS * 1000;
    this.policy = policy;
    this.throttle = throttle;
    this.log = log; // receives one line of text; never secrets
    this.random = random;
    this.tokens = null; // {access_token, refresh_token} or null when signed out
    this.refreshing = null; // the one refresh in flight: a promise of its outcome
  }

  // --- operations ---------------------------------------------------------------------

  login = (email, password, signal) => this.call(calls.login(email, password), signal);
  logout = (signal) => this.call(calls.logout(), signal);
  getProfile = (signal) => this.call(calls.getProfile(), signal);
  updateProfile = (changes, signal) => this.call(calls.updateProfile(changes), signal);
  listProducts = (query, signal) => this.call(calls.listProducts(query), signal);
  getProduct = (id, signal) => this.call(calls.getProduct(id), signal);
  createProduct = (product, signal) => this.call(calls.createProduct(product), signal);
  updateProduct = (id, product, signal) => this.call(calls.updateProduct(id, product), signal);
  deleteProduct = (id, signal) => this.call(calls.deleteProduct(id), signal);

  setTokens(accessToken, refreshToken) {
    this.tokens = { access_token: accessToken, refresh_token: refreshToken };
  }

  clearTokens() {
    this.tokens = null;
  }

  // Runs a call to its end; what the client remembers after a success (login
  // stores the pair, logout forgets it) follows it.
  async call(call, signal) {
    const result = await this.run(call, signal);
    if (STARTS_SESSION.has(call.operation) && result) {
      this.setTokens(result.access_token, result.refresh_token);
    } else if (call.operation === "logout") {
      this.clearTokens();
    }
    return result;
  }

  // --- the engine ---------------------------------------------------------------------

  async run(call, signal) {
    const started = performance.now();
    const deadlineAt = started + this.policy.deadlineS * 1000;
    let key = call.idempotencyKey;
    if (key === null && call.method === "POST" && call.authenticated) key = randomHex();
    let refreshed = false;
    let number = 0;
    for (;;) {
      if (signal?.aborted) throw cancelled();
      number += 1;
      const sentToken = call.authenticated ? (this.tokens?.access_token ?? null) : null;
      const outcome = await this.send(call, sentToken, key, number, signal, deadlineAt);

      let error;
      let attempt;
      if (outcome.response) {
        const response = outcome.response;
        if (isOk(response.status)) {
          this.throttle.recordSuccess();
          try {
            return call.parse(response.body);
          } catch (e) {
            throw unexpected(
              `${call.operation}: the response is not what the contract says: ${e.message}`,
              { status: response.status, attempts: number },
            );
          }
        }
        // One refresh and one replay per call (R4); a second 401 is final.
        if (response.status === 401 && !refreshed && sentToken && tokenRejected(response)) {
          refreshed = true;
          const result = await unlessCancelled(this.refreshFor(sentToken), signal);
          if (result.refreshed) {
            number -= 1; // the replay is part of this attempt, not a retry
            continue;
          }
          throw result.error ?? unauthorized("the session has ended");
        }
        error = errorFromResponse(response, number);
        attempt = {
          number,
          method: call.method,
          phase: Phase.RESPONSE,
          status: response.status,
          retryAfter: error.retryAfter,
          hasIdempotencyKey: key !== null,
        };
      } else {
        error = outcome.failure.error;
        error.attempts = number;
        attempt = {
          number,
          method: call.method,
          phase: outcome.failure.phase,
          hasIdempotencyKey: key !== null,
        };
      }

      if (this.policy.isRetryable(attempt) !== null) this.throttle.recordFailure();
      else this.throttle.recordSuccess();
      const decision = this.policy.decide(attempt, {
        elapsedS: (performance.now() - started) / 1000,
        random: this.random,
      });
      if (!decision.retry) {
        const why = decision.reason;
        this.log(`${call.method} ${call.path}: giving up after attempt ${number}: ${why}`);
        throw error;
      }
      if (!this.throttle.allowsRetry()) {
        this.log(`${call.method} ${call.path}: retry throttled (most recent calls failed)`);
        throw error;
      }
      this.log(
        `${call.method} ${call.path}: attempt ${number} failed (${decision.reason}); ` +
          `retrying in ${decision.delayS.toFixed(3)} s`,
      );
      await sleep(decision.delayS, signal);
    }
  }

  // Single-flight refresh: the first caller starts it, everyone whose 401 meets
  // it in flight shares its outcome. A 401 for a token already replaced replays
  // with the current token without refreshing again. Never rejects.
  async refreshFor(staleAccessToken) {
    if (this.refreshing) {
      const outcome = await this.refreshing;
      if (!outcome.refreshed) return outcome;
    }
    const current = this.tokens;
    if (current === null) return { refreshed: false, error: unauthorized("signed out") };
    if (current.refresh_token === null) {
      return { refreshed: false, error: unauthorized("no refresh token to refresh with") };
    }
    if (current.access_token !== staleAccessToken) return { refreshed: true };
    if (this.refreshing) return this.refreshFor(staleAccessToken); // started while we waited
    this.refreshing = this.refreshSession(current).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  async refreshSession(current) {
    try {
      // Not tied to any caller's cancellation: the others still wait for it.
      const issued = await this.run(calls.refresh(current.refresh_token));
      if (this.tokens?.refresh_token === current.refresh_token) {
        // The rotated refresh token replaces the old one.
        this.setTokens(issued.access_token, issued.refresh_token);
      }
      return { refreshed: true };
    } catch (e) {
      const error = e instanceof ApiError ? e : unexpected(`refresh failed: ${e?.message ?? e}`);
      const stillOurs = this.tokens?.refresh_token === current.refresh_token;
      if (error.kind === kinds.unauthorized && stillOurs) {
        this.clearTokens(); // the refresh token is dead: log out, release everyone
      }
      return { refreshed: false, error }; // transient failures keep the session
    }
  }

  // --- one attempt ----------------------------------------------------------------------

  buildRequest(call, accessToken, idempotencyKey) {
    const url = new URL(this.baseUrl + call.path + (call.params ? `?${call.params}` : ""));
    const target = url.pathname + url.search; // exactly what goes on the request line
    const body = call.body ?? Buffer.alloc(0);
    const headers = { Accept: "application/json", "User-Agent": USER_AGENT };
    if (call.body !== null) headers["Content-Type"] = "application/json";
    if (call.authenticated && accessToken) headers.Authorization = `Bearer ${accessToken}`;
    if (this.apiKey) headers["X-API-Key"] = this.apiKey;
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    if (this.signingSecret) {
      const timestamp = String(Date.now());
      const nonce = randomHex();
      headers["X-App-Timestamp"] = timestamp;
      headers["X-App-Nonce"] = nonce;
      headers["X-App-Signature"] = sign(
        this.signingSecret, timestamp, nonce, call.method, target, body,
      );
    }
    return { url: url.href, target, method: call.method, headers, body: call.body };
  }

  // One attempt: {response: {status, headers, body}} or {failure: {phase, error}}.
  // The read timeout is a timer re-armed by every chunk; the call's deadline is
  // another, never re-armed; both count as "may have reached the server".
  // Cancellation throws requestCancelled.
  async send(call, accessToken, idempotencyKey, number, signal, deadlineAt = Infinity) {
    const request = this.buildRequest(call, accessToken, idempotencyKey);
    const started = performance.now();
    const controller = new AbortController();
    let timedOut = false;
    let pastDeadline = false;
    let timer;
    const deadline = Number.isFinite(deadlineAt)
      ? setTimeout(() => {
          pastDeadline = true;
          controller.abort();
        }, Math.max(0, deadlineAt - started))
      : null;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.timeoutMs);
    };
    const onCancel = () => controller.abort();
    if (signal?.aborted) throw cancelled();
    signal?.addEventListener("abort", onCancel, { once: true });
    let outcome;
    try {
      arm();
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body ?? undefined,
        redirect: "manual",
        signal: controller.signal,
      });
      arm();
      const chunks = [];
      if (response.body) {
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          arm();
        }
      }
      const body = Buffer.concat(chunks);
      outcome = { response: { status: response.status, headers: response.headers, body } };
    } catch (e) {
      if (signal?.aborted) {
        this.logAttempt(request, number, "cancelled", started);
        throw cancelled();
      }
      const late = pastDeadline
        ? `the call's ${this.policy.deadlineS} s deadline passed`
        : `no complete response within ${this.timeoutMs / 1000} s`;
      outcome =
        timedOut || pastDeadline
          ? { failure: { phase: Phase.RECEIVE, error: new ApiError(kinds.receiveTimeout, late) } }
          : { failure: classify(e) };
    } finally {
      clearTimeout(timer);
      clearTimeout(deadline);
      signal?.removeEventListener("abort", onCancel);
    }
    const status = outcome.response?.status ?? outcome.failure.error.kind;
    this.logAttempt(request, number, status, started);
    return outcome;
  }

  logAttempt(request, number, status, started) {
    const ms = (performance.now() - started).toFixed(1);
    // Method, path and query, status: never headers or bodies (tokens, key, signature).
    this.log(`${request.method} ${request.target} -> ${status} attempt ${number} ${ms} ms`);
  }
}
