#!/usr/bin/env node
// The conformance adapter of library.mjs: protocol v2 of docs/adapter-protocol.md.
// JSON lines on stdin (`{"id": 1, "op": "call", "args": {"operation": "GetBook",
// "path": {"slug": "..."}}}`), one reply per line on stdout.
//
//   harness verify --config examples/library/harness.yaml \
//       --adapter "node examples/library/client-node/adapter.mjs"
//
// `--defect retry-post-without-key` judges a deliberately defective variant: a
// naive retry wrapper around fetch that sends a POST again after a 5xx or a lost
// answer, without an Idempotency-Key (R6 and R8 fail it). `--defect cents` keeps
// every fractional number as whole cents, as a money model might (R17 fails it).
// `--defect cents-in` does the same to what it sends: a created book's
// replacementCost reaches the server rounded (R17's create half fails it).
// `--defect relogin-every-401` logs in again on every 401 of a call, up to five
// times, instead of once (R4 fails it).

import { createInterface } from "node:readline";

import { LibraryClient, LibraryError } from "./library.mjs";

const env = process.env;
const defect = process.argv.includes("--defect")
  ? process.argv[process.argv.indexOf("--defect") + 1]
  : null;
const DEFECTS = ["retry-post-without-key", "cents", "cents-in", "relogin-every-401"];
if (defect !== null && !DEFECTS.includes(defect)) {
  console.error(`unknown defect ${defect}; known: ${DEFECTS.join(", ")}`);
  process.exit(2);
}
if (env.HARNESS_PROTOCOL && env.HARNESS_PROTOCOL !== "2") {
  console.error(`this adapter speaks protocol v2, the harness asks for v${env.HARNESS_PROTOCOL}`);
}

if (defect === "retry-post-without-key") {
  const fetchOnce = globalThis.fetch;
  globalThis.fetch = async (url, init = {}) => {
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= 3 || init.method !== "POST";
      try {
        const answer = await fetchOnce(url, init);
        if (answer.status < 500 || last) return answer;
      } catch (error) {
        if (last || init.signal?.aborted) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
}

const library = new LibraryClient(env.HARNESS_BASE_URL ?? "http://127.0.0.1:8000/api", {
  timeoutMs: Number(env.HARNESS_TIMEOUT_S ?? 10) * 1000,
  backoffMs: Number(env.HARNESS_RETRY_BASE_MS ?? 200),
  relogins: defect === "relogin-every-401" ? 5 : 1,
});

// The operations of the library's document this client can make, each answering
// the operation's response body as the document shapes it, rebuilt from the
// client's own values (so that what the client lost shows).
const withoutLocation = ({ location, ...book }) => book;
const OPERATIONS = {
  GetCurrentUser: async () => ({ user: await library.currentUser() }),
  UpdateCurrentUser: async ({ body }) => ({ user: await library.updateCurrentUser(body.user) }),
  ListBooks: async ({ query }) =>
    library.booksPage({
      limit: query.limit ?? 20,
      cursor: query.cursor ?? null,
      author: query.author ?? null,
    }),
  GetBook: async ({ path }) => ({ book: await library.getBook(path.slug) }),
  CreateBook: async ({ body }) => ({ book: withoutLocation(await library.createBook(body.book)) }),
  UpdateBook: async ({ path, body }) => ({ book: await library.updateBook(path.slug, body.book) }),
  DeleteBook: async ({ path }) => {
    await library.deleteBook(path.slug);
    return null;
  },
  FavoriteBook: async ({ path }) => ({ book: await library.favorite(path.slug, true) }),
  UnfavoriteBook: async ({ path }) => ({ book: await library.favorite(path.slug, false) }),
  CreateLoan: async ({ body }) => ({
    loan: await library.borrow(body.loan.book, { days: body.loan.days ?? 14 }),
  }),
  GetLoan: async ({ path }) => ({ loan: await library.getLoan(path.id) }),
  ReturnLoan: async ({ path }) => ({ loan: await library.giveBack(path.id) }),
};

class BadArgs extends Error {}

// The `cents` defect: fractional numbers rounded to two decimals.
const inCents = (value) =>
  Array.isArray(value)
    ? value.map(inCents)
    : value !== null && typeof value === "object"
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inCents(v)]))
      : typeof value === "number" && !Number.isInteger(value)
        ? Math.round(value * 100) / 100
        : value;

const OPS = {
  hello: async () => ({ protocol: 2, operations: Object.keys(OPERATIONS) }),
  login: async ({ email, password }) => {
    if (typeof email !== "string" || typeof password !== "string") {
      throw new BadArgs("login needs email and password");
    }
    return { user: await library.login(email, password) };
  },
  logout: async () => {
    library.token = null;
    library.credentials = null;
    return null;
  },
  get_tokens: async () =>
    library.token ? { access_token: library.token, refresh_token: null } : null,
  set_tokens: async ({ access_token: token = null }) => {
    library.token = token;
    if (token === null) library.credentials = null;
    return null;
  },
  call: async ({ operation, path = {}, query = {}, body = null }) => {
    const run = OPERATIONS[operation];
    if (run === undefined) throw new BadArgs(`unknown operation ${operation}`);
    const sent = defect === "cents-in" ? inCents(body) : body;
    const result = await run({ path, query, body: sent });
    return defect === "cents" ? inCents(result) : result;
  },
};

// The error kinds of the protocol, from what the last attempt met.
function kindOf(error) {
  if (error instanceof LibraryError) {
    const { status } = error;
    if (status === 0) {
      const cause = error.cause;
      if (cause?.name === "TimeoutError") return "receiveTimeout";
      if (cause?.name === "Cancelled") return "requestCancelled";
      return "noInternetConnection";
    }
    if (status === 401) return "unauthorized";
    if (status === 403) return "forbidden";
    if (status === 404) return "notFound";
    if (status === 408) return "sendTimeout";
    if (status === 409) return "conflict";
    if (status === 429) return "tooManyRequests";
    if (status === 500) return "internalServerError";
    if (status >= 500) return "serverError";
    if (status >= 400) return "badRequest";
  }
  return "unexpected"; // a 2xx the client could not read, bad arguments, a bug
}

function failure(error, kind = kindOf(error)) {
  const status = error instanceof LibraryError && error.status >= 100 ? error.status : null;
  return { ok: false, error: { kind, status, message: String(error?.message ?? error) } };
}

async function perform(op, args = {}, cancelAfterMs = null) {
  const run = OPS[op];
  if (run === undefined) return failure(new Error(`unknown op ${op}`), "unexpected");
  if (cancelAfterMs === null || cancelAfterMs === undefined) {
    try {
      return { ok: true, result: await run(args) };
    } catch (error) {
      return failure(error);
    }
  }
  // Cancelled at N ms: reply at once; the client's abort stops any further attempt.
  const controller = new AbortController();
  const reason = Object.assign(new Error("cancelled"), { name: "Cancelled" });
  let timer;
  const cancelled = new Promise((resolve) => {
    timer = setTimeout(() => {
      controller.abort(reason);
      resolve(failure(new Error("the call was cancelled"), "requestCancelled"));
    }, cancelAfterMs);
  });
  const done = library
    .cancellable(controller.signal, () => run(args))
    .then((result) => ({ ok: true, result }), (error) => failure(error));
  const reply = await Promise.race([done, cancelled]);
  clearTimeout(timer);
  return reply;
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    continue; // not JSON: ignored, as the protocol says
  }
  if (message === null || typeof message !== "object" || Array.isArray(message)) continue;
  const { id, op, args = {} } = message;
  let reply;
  if (op === "shutdown") {
    process.stdout.write(JSON.stringify({ id, ok: true, result: null }) + "\n");
    process.exit(0);
  } else if (op === "parallel") {
    const ops = Array.isArray(args.ops) ? args.ops : [];
    const replies = await Promise.all(
      ops.map((o) => perform(o.op, o.args ?? {}, o.cancel_after_ms ?? null)),
    );
    reply = { ok: true, result: replies };
  } else {
    reply = await perform(op, args, message.cancel_after_ms ?? null);
  }
  process.stdout.write(JSON.stringify({ id, ...reply }) + "\n");
}
