// The contract's models (contracts/models.py), in JavaScript.
//
// Responses are read into the client's own objects: unknown fields are
// ignored, a missing or mistyped field is a ValidationError (reported as
// `unexpected`), prices are numbers, dates keep their instant and offset.
// Requests are checked as strictly as the contract's request models (unknown
// fields rejected) and serialized from the checked values.

export class ValidationError extends Error {
  constructor(where, problem) {
    super(`${where}: ${problem}`);
    this.name = "ValidationError";
  }
}

export const CATEGORY_IDS = Object.freeze([
  "electronics", "books", "home", "toys", "sports", "clothing", "grocery", "beauty",
]);
export const MAX_PRICE = 1_000_000_000;

const URI = /^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$/;
const EMAIL = /^[^@\s]+@[^@\s]+$/;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const codePoints = (s) => [...s].length;

function fail(where, problem) {
  throw new ValidationError(where, problem);
}

function object(value, where) {
  if (!isObject(value)) fail(where, "must be an object");
  return value;
}

// A field with a default: the default when absent (null is not absent).
const optional = (obj, name, fallback) => (Object.hasOwn(obj, name) ? obj[name] : fallback);

function field(obj, name, where) {
  if (!Object.hasOwn(obj, name)) fail(`${where}.${name}`, "is missing");
  return obj[name];
}

function string(value, where, { min = 0, max = Infinity } = {}) {
  if (typeof value !== "string") fail(where, "must be a string");
  const n = codePoints(value);
  if (n < min) fail(where, `must have at least ${min} characters`);
  if (n > max) fail(where, `must have at most ${max} characters`);
  return value;
}

const name = (v, where) => string(v, where, { min: 1, max: 200 });
const identifier = (v, where) => string(v, where, { min: 1, max: 64 });

function email(value, where) {
  string(value, where, { max: 254 });
  if (!EMAIL.test(value)) fail(where, "must be an email address");
  return value;
}

function uri(value, where) {
  string(value, where, { max: 2048 });
  if (!URI.test(value)) fail(where, "must be an absolute URI");
  return value;
}

function price(value, where) {
  if (typeof value !== "number") fail(where, "must be a JSON number");
  if (!Number.isFinite(value)) fail(where, "must be finite");
  if (value < 0 || value > MAX_PRICE) fail(where, `must be within 0..${MAX_PRICE}`);
  return value === 0 ? 0 : value; // -0 is 0
}

function list(value, where, max, item) {
  if (!Array.isArray(value)) fail(where, "must be a list");
  if (value.length > max) fail(where, `must have at most ${max} items`);
  return value.map((v, i) => item(v, `${where}[${i}]`));
}

function categoryId(value, where) {
  if (typeof value !== "string" || !CATEGORY_IDS.includes(value)) {
    fail(where, `must be one of ${CATEGORY_IDS.join(", ")}`);
  }
  return value;
}

function integer(value, where, { min = -Infinity } = {}) {
  // Lax like the contract's models: integral numbers and integer strings.
  let n = value;
  if (typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value)) n = Number(value);
  if (typeof n !== "number" || !Number.isInteger(n)) fail(where, "must be an integer");
  if (n < min) fail(where, `must be at least ${min}`);
  return n;
}

// --- dates ---------------------------------------------------------------------------

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;
const pad = (n, width = 2) => String(n).padStart(width, "0");
const isLeap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

// An aware date-time: wall-clock fields, microseconds and the UTC offset the
// server gave, so the instant and the offset survive the round trip (a JS Date
// keeps neither the offset nor the microseconds).
export class DateTime {
  constructor({ year, month, day, hour, minute, second, micro, offsetMin }) {
    Object.assign(this, { year, month, day, hour, minute, second, micro, offsetMin });
    Object.freeze(this);
  }

  static parse(value, where) {
    const numeric = typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value);
    if (typeof value === "number" || numeric) return DateTime.fromUnix(Number(value), where);
    if (typeof value !== "string") fail(where, "must be a date-time string");
    const m = DATE_TIME.exec(value);
    if (!m) fail(where, "must be an RFC 3339 date-time");
    const [, y, mo, d, h, mi, s = "0", frac = "", z, sign, oh, om] = m;
    if (!z && !sign) fail(where, "must have a UTC offset");
    const year = Number(y), month = Number(mo), day = Number(d);
    const hour = Number(h), minute = Number(mi), second = Number(s);
    const monthDays = month === 2 && isLeap(year) ? 29 : DAYS[month - 1];
    if (month < 1 || month > 12 || day < 1 || day > monthDays) {
      fail(where, "is not a calendar date");
    }
    if (hour > 23 || minute > 59 || second > 59) fail(where, "is not a time of day");
    const offsetMin = z ? 0 : (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om));
    if (Number(oh) > 23 || Number(om) > 59) fail(where, "has an impossible UTC offset");
    const micro = Number(frac.slice(0, 6).padEnd(6, "0")); // truncated to microseconds
    return new DateTime({ year, month, day, hour, minute, second, micro, offsetMin });
  }

  static fromUnix(seconds, where) {
    if (!Number.isFinite(seconds)) fail(where, "must be a finite timestamp");
    // Like the contract's models: beyond 2e10 the number is in milliseconds.
    const unixS = Math.abs(seconds) > 2e10 ? seconds / 1000 : seconds;
    const totalMicro = Math.round(unixS * 1e6);
    const ms = Math.floor(totalMicro / 1000);
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) fail(where, "is out of range");
    return new DateTime({
      year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(),
      hour: date.getUTCHours(), minute: date.getUTCMinutes(), second: date.getUTCSeconds(),
      micro: totalMicro - Math.floor(totalMicro / 1_000_000) * 1_000_000, offsetMin: 0,
    });
  }

  // RFC 3339 with the server's offset ("Z" for UTC); microseconds when not zero.
  toJSON() {
    const date = `${pad(this.year, 4)}-${pad(this.month)}-${pad(this.day)}`;
    const time = `${pad(this.hour)}:${pad(this.minute)}:${pad(this.second)}`;
    const frac = this.micro ? `.${pad(this.micro, 6)}` : "";
    let offset = "Z";
    if (this.offsetMin !== 0) {
      const abs = Math.abs(this.offsetMin);
      offset = `${this.offsetMin < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    }
    return `${date}T${time}${frac}${offset}`;
  }

  toString() {
    return this.toJSON();
  }
}

// --- responses -----------------------------------------------------------------------

export function tokenResponse(value, where = "TokenResponse") {
  const o = object(value, where);
  const tokenType = Object.hasOwn(o, "token_type") ? o.token_type : "Bearer";
  if (tokenType !== "Bearer") fail(`${where}.token_type`, "must be 'Bearer'");
  return {
    access_token: string(field(o, "access_token", where), `${where}.access_token`),
    refresh_token: string(field(o, "refresh_token", where), `${where}.refresh_token`),
    token_type: tokenType,
    expires_in: integer(field(o, "expires_in", where), `${where}.expires_in`, { min: 0 }),
  };
}

export function user(value, where = "User") {
  const o = object(value, where);
  return {
    id: identifier(field(o, "id", where), `${where}.id`),
    email: email(field(o, "email", where), `${where}.email`),
    name: name(field(o, "name", where), `${where}.name`),
    created_at: DateTime.parse(field(o, "created_at", where), `${where}.created_at`),
  };
}

function category(value, where) {
  const o = object(value, where);
  return {
    id: categoryId(field(o, "id", where), `${where}.id`),
    name: name(field(o, "name", where), `${where}.name`),
  };
}

function variant(value, where) {
  const o = object(value, where);
  return {
    id: identifier(field(o, "id", where), `${where}.id`),
    name: name(field(o, "name", where), `${where}.name`),
    price: price(field(o, "price", where), `${where}.price`),
  };
}

export function product(value, where = "Product") {
  const o = object(value, where);
  const description = field(o, "description", where);
  return {
    id: identifier(field(o, "id", where), `${where}.id`),
    name: name(field(o, "name", where), `${where}.name`),
    price: price(field(o, "price", where), `${where}.price`),
    description:
      description === null ? null : string(description, `${where}.description`, { max: 2000 }),
    image_urls: list(field(o, "image_urls", where), `${where}.image_urls`, 10, uri),
    created_at: DateTime.parse(field(o, "created_at", where), `${where}.created_at`),
    category: category(field(o, "category", where), `${where}.category`),
    variants: list(field(o, "variants", where), `${where}.variants`, 20, variant),
  };
}

export function products(value, where = "Products") {
  return list(value, where, Infinity, product);
}

// --- requests ------------------------------------------------------------------------

function onlyFields(o, allowed, where) {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) fail(`${where}.${key}`, "is not a field of the request");
  }
}

export function loginRequest(args) {
  return {
    email: email(field(args, "email", "login"), "login.email"),
    password: string(field(args, "password", "login"), "login.password", { min: 1, max: 128 }),
  };
}

export function refreshRequest(refreshToken) {
  return { refresh_token: string(refreshToken, "refresh_token", { min: 1, max: 512 }) };
}

// UserUpdate, without the fields left out or null (the server keeps those).
export function userUpdate(args) {
  const body = {};
  if (args.name !== undefined && args.name !== null) body.name = name(args.name, "UserUpdate.name");
  if (args.email !== undefined && args.email !== null) {
    body.email = email(args.email, "UserUpdate.email");
  }
  return body;
}

function variantInput(value, where) {
  const o = object(value, where);
  onlyFields(o, ["name", "price"], where);
  return {
    name: name(field(o, "name", where), `${where}.name`),
    price: price(field(o, "price", where), `${where}.price`),
  };
}

// ProductInput with every field, defaults filled in, in the contract's order.
export function productInput(value, where = "ProductInput") {
  const o = object(value, where);
  onlyFields(o, ["name", "price", "description", "image_urls", "category_id", "variants"], where);
  const description = o.description ?? null;
  return {
    name: name(field(o, "name", where), `${where}.name`),
    price: price(field(o, "price", where), `${where}.price`),
    description:
      description === null ? null : string(description, `${where}.description`, { max: 2000 }),
    image_urls: list(optional(o, "image_urls", []), `${where}.image_urls`, 10, uri),
    category_id: categoryId(field(o, "category_id", where), `${where}.category_id`),
    variants: list(optional(o, "variants", []), `${where}.variants`, 20, variantInput),
  };
}

export function checkCategory(value) {
  return categoryId(value, "category");
}
