#!/usr/bin/env node
// The Node.js client behind the harness's stdio adapter protocol
// (docs/adapter-protocol.md). No dependencies: Node 20 built-ins only.
//
//   HARNESS_BASE_URL=http://127.0.0.1:8080 node adapters/node/adapter.mjs
//
// Reads one JSON request per line on stdin and answers one JSON reply per line
// on stdout, in order; nothing else is ever written to stdout. One client
// (one session) for the adapter's whole life.

import { openSync, writeSync } from "node:fs";
import { createInterface } from "node:readline";

import { ApiClient } from "./client.mjs";
import { ApiError, kinds } from "./errors.mjs";
import { RetryPolicy } from "./retry.mjs";

function failure(kind, message, status = null) {
  return { ok: false, error: { kind, status, message } };
}

function required(args, name) {
  if (!Object.hasOwn(args, name)) throw new TypeError(`missing argument '${name}'`);
  return args[name];
}

function text(args, name) {
  const value = required(args, name);
  if (typeof value !== "string") throw new TypeError(`'${name}' must be a string`);
  return value;
}

const OPS = {
  login: (api, a, signal) => api.login(text(a, "email"), text(a, "password"), signal),
  logout: (api, a, signal) => api.logout(signal),
  set_tokens: async (api, a) => {
    const access = required(a, "access_token");
    const refresh = required(a, "refresh_token");
    if (access === null && refresh === null) {
      api.clearTokens(); // both null: signed out
      return null;
    }
    if (typeof access !== "string" || !(refresh === null || typeof refresh === "string")) {
      throw new TypeError("access_token must be a string, refresh_token a string or null");
    }
    api.setTokens(access, refresh);
    return null;
  },
  get_tokens: async (api) =>
    api.tokens && {
      access_token: api.tokens.access_token,
      refresh_token: api.tokens.refresh_token,
    },
  get_profile: (api, a, signal) => api.getProfile(signal),
  update_profile: (api, a, signal) =>
    api.updateProfile({ name: a.name, email: a.email }, signal),
  list_products: (api, a, signal) =>
    api.listProducts(
      { page: a.page ?? 1, pageSize: a.page_size ?? 20, category: a.category ?? null },
      signal,
    ),
  get_product: (api, a, signal) => api.getProduct(text(a, "id"), signal),
  create_product: (api, a, signal) => api.createProduct(required(a, "product"), signal),
  update_product: (api, a, signal) =>
    api.updateProduct(text(a, "id"), required(a, "product"), signal),
  delete_product: (api, a, signal) => api.deleteProduct(text(a, "id"), signal),
};

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// One op's reply body (without the id).
async function perform(api, request) {
  const op = request.op;
  const args = isObject(request.args) ? request.args : {};
  if (op === "parallel") {
    const ops = Array.isArray(args.ops) ? args.ops : [];
    const replies = await Promise.all(
      ops.map((sub) => perform(api, isObject(sub) ? sub : { op: undefined })),
    );
    return { ok: true, result: replies };
  }
  const handler = typeof op === "string" && Object.hasOwn(OPS, op) ? OPS[op] : null;
  if (handler === null) return failure(kinds.unexpected, `unknown op ${JSON.stringify(op)}`);

  const cancelAfter = request.cancel_after_ms ?? null;
  const controller = new AbortController();
  const timer =
    cancelAfter !== null && Number.isFinite(Number(cancelAfter))
      ? setTimeout(() => controller.abort(), Number(cancelAfter))
      : null;
  try {
    const result = await handler(api, args, controller.signal);
    return { ok: true, result: result ?? null };
  } catch (e) {
    if (e instanceof ApiError) {
      const message =
        e.kind === kinds.requestCancelled && controller.signal.aborted
          ? `cancelled after ${cancelAfter} ms`
          : e.message;
      return failure(e.kind, message, e.status);
    }
    return failure(kinds.unexpected, `bad args for ${op}: ${e?.message ?? e}`);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

function logger(path) {
  if (!path) return () => {};
  let fd;
  try {
    fd = openSync(path, "a");
  } catch (e) {
    process.stderr.write(`node adapter: cannot open the log file: ${e.message}\n`);
    return () => {};
  }
  return (line) => {
    try {
      writeSync(fd, `${new Date().toISOString()} harness.node-client ${line}\n`);
    } catch {
      // logging must never break a call
    }
  };
}

function reply(message) {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(message)}\n`, resolve));
}

function clientFromEnv(env) {
  const timeoutS = Number(env.HARNESS_TIMEOUT_S || "10");
  const baseDelayS = Number(env.HARNESS_RETRY_BASE_MS || "200") / 1000;
  const capS = Number(env.HARNESS_RETRY_CAP_MS || "5000") / 1000;
  const deadlineS = Number(env.HARNESS_DEADLINE_S || "30");
  return new ApiClient({
    baseUrl: env.HARNESS_BASE_URL,
    apiKey: env.HARNESS_API_KEY || null,
    signingSecret: env.HARNESS_SIGNING_SECRET || null,
    timeoutS: timeoutS > 0 ? timeoutS : 10,
    policy: new RetryPolicy({
      baseDelayS,
      maxDelayS: Math.max(capS, baseDelayS),
      deadlineS: deadlineS > 0 ? deadlineS : 30,
      maxRetryAfterS: 30,
    }),
    log: logger(env.HARNESS_LOG_FILE),
  });
}

function main() {
  if (!process.env.HARNESS_BASE_URL) {
    process.stderr.write("node adapter: HARNESS_BASE_URL is not set\n");
    process.exit(2);
  }
  const api = clientFromEnv(process.env);
  process.stdout.on("error", () => process.exit(0)); // the harness went away
  process.on("unhandledRejection", (e) => process.stderr.write(`node adapter: ${e?.stack ?? e}\n`));

  // Requests are answered one after another, in order (concurrency only
  // through `parallel`), like the reference adapter.
  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    queue = queue.then(async () => {
      let request;
      try {
        request = JSON.parse(line);
      } catch {
        return; // not ours to answer: no id to answer to
      }
      if (!isObject(request)) return;
      const id = request.id ?? null;
      if (request.op === "shutdown") {
        await reply({ id, ok: true, result: null });
        process.exit(0);
      }
      let body;
      try {
        body = await perform(api, request);
      } catch (e) {
        body = failure(kinds.unexpected, `adapter error: ${e?.message ?? e}`);
      }
      await reply({ id, ...body });
    });
  });
  lines.on("close", () => {
    queue.then(() => process.exit(0));
  });
}

main();
