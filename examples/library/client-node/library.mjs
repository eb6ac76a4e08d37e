// A client of the lending library API (../openapi.yaml) for Node.js 20.
// No dependencies: the built-in fetch, AbortSignal.timeout and crypto only.
//
//   import { LibraryClient } from "./library.mjs";
//   const library = new LibraryClient("http://127.0.0.1:8000/api");
//   await library.login("reader@example.org", "reader-password");
//   for await (const book of library.books({ limit: 50 })) console.log(book.slug);
//
// What it does for its caller, as the document asks:
// - sends the session as `Authorization: Token <jwt>` (token read at /user/token);
//   there is no refresh token, so on a 401 it logs in again once, with the
//   credentials it was given, and replays the request;
// - unwraps the answers ({"book": {...}} -> the book) and wraps the bodies;
// - follows `next_cursor` until it is null;
// - retries only what is safe: GET, and CreateLoan with the same Idempotency-Key;
//   on 429/503 it waits `Retry-After` (bounded), on a network error it backs off;
//   a refused connection is retried for any method (the request never left);
// - turns `{"errors": {"body": [...]}}` into a LibraryError with the messages;
// - calls made inside `library.cancellable(signal, fn)` stop at once when the signal
//   aborts: no further attempt, no wait finished.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export class LibraryError extends Error {
  constructor(status, messages, { retryAfterS = null, cause = undefined } = {}) {
    super(`${status}: ${messages.join("; ")}`, cause === undefined ? undefined : { cause });
    this.name = "LibraryError";
    this.status = status; // 0: no answer (network error, timeout or cancel: see cause)
    this.messages = messages;
    this.retryAfterS = retryAfterS;
  }
}

// The cancel signal of the calls under way (cancellable()), per async context.
const cancelling = new AsyncLocalStorage();

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

// A connection the server never accepted: nothing was sent, any method may retry.
const refused = (error) => error?.cause?.code === "ECONNREFUSED";

function errorMessages(body, fallback) {
  const messages = body?.errors?.body;
  return Array.isArray(messages) && messages.every((m) => typeof m === "string")
    ? messages
    : [fallback];
}

// Retry-After is delay-seconds or an HTTP date (RFC 9110); null when absent or bad.
export function retryAfterSeconds(value, now = Date.now()) {
  if (value == null || value === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

const segment = (value) => {
  if (typeof value !== "string" && !Number.isInteger(value)) {
    throw new TypeError(`not a slug or id: ${JSON.stringify(value)}`);
  }
  const text = String(value);
  if (text === "") throw new TypeError("an empty slug or id");
  return encodeURIComponent(text);
};

export class LibraryClient {
  constructor(
    baseUrl,
    { timeoutMs = 10_000, attempts = 3, maxWaitS = 30, backoffMs = 200, relogins = 1 } = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, ""); // with its base path, e.g. .../api
    this.timeoutMs = timeoutMs;
    this.attempts = attempts; // per request, for the retries that are safe
    this.maxWaitS = maxWaitS; // the longest Retry-After it will honour
    this.backoffMs = backoffMs;
    this.relogins = relogins; // logins again per call after a 401 (1: then it gives up)
    this.token = null;
    this.credentials = null;
  }

  // Run `fn` (calls of this client) so that aborting `signal` cancels them.
  cancellable(signal, fn) {
    return cancelling.run(signal, fn);
  }

  // --- the transport ---------------------------------------------------------------

  async #send(method, path, { body, headers = {}, auth = "required", retrySafe }) {
    const safe = retrySafe ?? method === "GET";
    const cancel = cancelling.getStore();
    let relogged = 0;
    for (let attempt = 1; ; attempt++) {
      if (cancel?.aborted) {
        throw new LibraryError(0, [`${method} ${path} cancelled`], { cause: cancel.reason });
      }
      const sent = { "Accept": "application/json", ...headers };
      if (body !== undefined) sent["Content-Type"] = "application/json";
      if (this.token && auth !== "none") sent.Authorization = `Token ${this.token}`;
      let answer;
      try {
        answer = await fetch(this.baseUrl + path, {
          method,
          headers: sent,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: cancel
            ? AbortSignal.any([AbortSignal.timeout(this.timeoutMs), cancel])
            : AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        if ((safe || refused(error)) && attempt < this.attempts && !cancel?.aborted) {
          await this.#wait(this.backoffMs * 2 ** (attempt - 1), cancel, method, path);
          continue;
        }
        const why = cancel?.aborted ? cancel.reason : error;
        throw new LibraryError(0, [`no answer from ${method} ${path}: ${error.message}`], {
          cause: why,
        });
      }
      const text = await answer.text();
      let parsed = null;
      if (text !== "") {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = null;
        }
      }
      if (answer.ok) {
        const type = answer.headers.get("content-type") ?? "";
        if (text !== "" && !type.startsWith("application/json")) {
          throw new LibraryError(answer.status, [`expected JSON, got ${type || "no type"}`]);
        }
        return { status: answer.status, body: parsed, headers: answer.headers };
      }
      const messages = errorMessages(parsed, `${method} ${path} answered ${answer.status}`);
      const wait = retryAfterSeconds(answer.headers.get("retry-after"));
      if (answer.status === 401 && sent.Authorization && relogged < this.relogins &&
        this.credentials) {
        relogged++; // no refresh token in this API: log in again, once
        await this.login(this.credentials.email, this.credentials.password);
        attempt--;
        continue;
      }
      if (
        (answer.status === 429 || answer.status === 503) && safe && wait !== null &&
        wait <= this.maxWaitS && attempt < this.attempts
      ) {
        await this.#wait(wait * 1000, cancel, method, path);
        continue;
      }
      throw new LibraryError(answer.status, messages, { retryAfterS: wait });
    }
  }

  async #wait(ms, cancel, method, path) {
    try {
      await sleep(ms, cancel);
    } catch (reason) {
      throw new LibraryError(0, [`${method} ${path} cancelled`], { cause: reason });
    }
  }

  // --- members -----------------------------------------------------------------------

  async login(email, password) {
    const { body } = await this.#send("POST", "/users/login", {
      body: { user: { email, password } },
      auth: "none",
    });
    this.#signedIn(body.user, { email, password });
    return body.user;
  }

  async register(email, username, password) {
    const { body } = await this.#send("POST", "/users", {
      body: { user: { email, username, password } },
      auth: "none",
    });
    this.#signedIn(body.user, { email, password });
    return body.user;
  }

  #signedIn(user, credentials) {
    if (typeof user?.token !== "string" || user.token === "") {
      throw new LibraryError(200, ["the answer carries no token at /user/token"]);
    }
    this.token = user.token;
    this.credentials = credentials;
  }

  async currentUser() {
    return (await this.#send("GET", "/user", {})).body.user;
  }

  async updateCurrentUser(changes) {
    const { body } = await this.#send("PUT", "/user", { body: { user: changes } });
    if (changes.email || changes.password) {
      this.credentials = {
        email: changes.email ?? this.credentials?.email,
        password: changes.password ?? this.credentials?.password,
      };
    }
    this.token = body.user.token ?? this.token;
    return body.user;
  }

  async closeAccount() {
    await this.#send("DELETE", "/user", {});
    this.token = null;
    this.credentials = null;
  }

  // --- books -------------------------------------------------------------------------

  // One page: {books, next_cursor, books_count}.
  async booksPage({ limit = 20, cursor = null, author = null } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor !== null) query.set("cursor", cursor);
    if (author !== null) query.set("author", author);
    return (await this.#send("GET", `/books?${query}`, { auth: "optional" })).body;
  }

  // Every book, page after page (bounded by maxPages), in the server's order.
  async *books({ limit = 20, author = null, maxPages = 1000 } = {}) {
    let cursor = null;
    for (let page = 0; page < maxPages; page++) {
      const body = await this.booksPage({ limit, cursor, author });
      yield* body.books;
      if (body.next_cursor === null || body.next_cursor === cursor) return;
      cursor = body.next_cursor;
    }
    throw new LibraryError(200, [`more than ${maxPages} pages: a cursor that never ends?`]);
  }

  async bookCount({ author = null } = {}) {
    const query = new URLSearchParams({ limit: "1" });
    if (author !== null) query.set("author", author);
    return (await this.#send("GET", `/books?${query}`, { auth: "optional" })).body.books_count;
  }

  async getBook(slug) {
    return (await this.#send("GET", `/books/${segment(slug)}`, { auth: "optional" })).body.book;
  }

  // The created book and where it lives (the Location header).
  async createBook(book) {
    const answer = await this.#send("POST", "/books", { body: { book } });
    return { ...answer.body.book, location: answer.headers.get("location") };
  }

  async updateBook(slug, changes) {
    const path = `/books/${segment(slug)}`;
    return (await this.#send("PUT", path, { body: { book: changes } })).body.book;
  }

  async deleteBook(slug) {
    await this.#send("DELETE", `/books/${segment(slug)}`, {});
  }

  async favorite(slug, on = true) {
    const path = `/books/${segment(slug)}/favorite`;
    return (await this.#send(on ? "POST" : "DELETE", path, {})).body.book;
  }

  // --- reviews -----------------------------------------------------------------------

  async reviews(slug) {
    const path = `/books/${segment(slug)}/reviews`;
    return (await this.#send("GET", path, { auth: "none" })).body.reviews;
  }

  async addReview(slug, body, rating) {
    const path = `/books/${segment(slug)}/reviews`;
    return (await this.#send("POST", path, { body: { review: { body, rating } } })).body.review;
  }

  async deleteReview(slug, id) {
    await this.#send("DELETE", `/books/${segment(slug)}/reviews/${segment(id)}`, {});
  }

  // --- loans -------------------------------------------------------------------------

  // Borrow a copy. One Idempotency-Key for every attempt, so that a retry after a
  // lost answer or a 503 never borrows a second copy.
  async borrow(slug, { days = 14, idempotencyKey = randomUUID() } = {}) {
    const { body } = await this.#send("POST", "/loans", {
      body: { loan: { book: slug, days } },
      headers: { "Idempotency-Key": idempotencyKey },
      retrySafe: true,
    });
    return body.loan;
  }

  async loans({ limit = 20, maxPages = 1000 } = {}) {
    const found = [];
    let cursor = null;
    for (let page = 0; page < maxPages; page++) {
      const query = new URLSearchParams({ limit: String(limit) });
      if (cursor !== null) query.set("cursor", cursor);
      const { body } = await this.#send("GET", `/loans?${query}`, {});
      found.push(...body.loans);
      if (body.next_cursor === null || body.next_cursor === cursor) return found;
      cursor = body.next_cursor;
    }
    throw new LibraryError(200, [`more than ${maxPages} pages of loans`]);
  }

  async getLoan(id) {
    return (await this.#send("GET", `/loans/${segment(id)}`, {})).body.loan;
  }

  async giveBack(id) {
    const path = `/loans/${segment(id)}`;
    return (await this.#send("PATCH", path, { body: { loan: { status: "returned" } } })).body.loan;
  }
}
