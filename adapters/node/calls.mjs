// Every contract operation as a call: what to send and how to read the answer.
// Calls are plain data; client.mjs runs them.

import * as models from "./models.mjs";

const json = (body) => Buffer.from(JSON.stringify(body), "utf8");
const nothing = () => null;

// Like Python's quote(safe=""): everything but unreserved characters escaped.
function segment(value) {
  if (typeof value !== "string" || value.length === 0) {
    throw new models.ValidationError("id", "must be a non-empty string");
  }
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

// Strict UTF-8 (a broken byte is an error, not U+FFFD), then JSON, then the model.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function parseJson(read) {
  return (bytes) => read(JSON.parse(UTF8.decode(bytes)));
}

function call(operation, method, path, parse, extra = {}) {
  return Object.freeze({
    operation,
    method,
    path,
    parse,
    params: null, // URLSearchParams or null
    body: null, // Buffer or null: the exact bytes sent (and signed)
    authenticated: true,
    idempotencyKey: null, // POSTs get a fresh one per call unless given
    ...extra,
  });
}

export const login = (email, password) =>
  call("login", "POST", "/v1/auth/login", parseJson(models.tokenResponse), {
    body: json(models.loginRequest({ email, password })),
    authenticated: false,
  });

export const refresh = (refreshToken) =>
  call("refresh", "POST", "/v1/auth/refresh", parseJson(models.tokenResponse), {
    body: json(models.refreshRequest(refreshToken)),
    authenticated: false,
  });

export const logout = () => call("logout", "POST", "/v1/auth/logout", nothing);

export const getProfile = () =>
  call("getProfile", "GET", "/v1/users/profile", parseJson(models.user));

export const updateProfile = ({ name, email } = {}) =>
  call("updateProfile", "PUT", "/v1/users/update", parseJson(models.user), {
    body: json(models.userUpdate({ name, email })),
  });

export function listProducts({ page = 1, pageSize = 20, category = null } = {}) {
  const params = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
  if (category !== null && category !== undefined) {
    params.set("category", models.checkCategory(category));
  }
  return call("listProducts", "GET", "/v1/products", parseJson(models.products), { params });
}

export const getProduct = (id) =>
  call("getProduct", "GET", `/v1/products/${segment(id)}`, parseJson(models.product));

export const createProduct = (product, idempotencyKey = null) =>
  call("createProduct", "POST", "/v1/products", parseJson(models.product), {
    body: json(models.productInput(product)),
    idempotencyKey,
  });

export const updateProduct = (id, product) =>
  call("updateProduct", "PUT", `/v1/products/${segment(id)}`, parseJson(models.product), {
    body: json(models.productInput(product)),
  });

export const deleteProduct = (id) =>
  call("deleteProduct", "DELETE", `/v1/products/${segment(id)}`, nothing);
