// When to try a call again, and after how long. Pure: nothing here sleeps.
//
// RetryPolicy.decide() turns what happened on one attempt into
// {retry: true, delayS, reason} or {retry: false, reason}. The delay is capped
// exponential backoff with full jitter (AWS, "Exponential Backoff and Jitter"),
// or what the server's Retry-After asks (RFC 9110 s10.2.3) when within the cap.
//
// What is retried (RFC 9110 s9.2.2):
// - failures before the request was sent (connection refused) for any method;
// - 408, 429, 500, 502, 503, 504, timeouts and connections lost after sending,
//   only for idempotent methods or requests carrying an Idempotency-Key;
// - nothing else: other 4xx, malformed bodies, cancelled calls.
//
// RetryThrottle is gRPC's retry throttling (A6), shared by all calls of a client.

export const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);
export const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

// How far an attempt got before it failed.
export const Phase = Object.freeze({
  CONNECT: "connect", // never reached the server: safe to retry for any method
  SEND: "send", // may have reached the server
  RECEIVE: "receive", // reached the server; the answer did not come back
  RESPONSE: "response", // an HTTP response arrived
});

export class RetryPolicy {
  constructor({
    maxAttempts = 4,
    baseDelayS = 0.2,
    maxDelayS = 5.0,
    deadlineS = 30.0,
    maxRetryAfterS = 30.0,
    retryStatuses = RETRYABLE_STATUSES,
  } = {}) {
    if (maxAttempts < 1) throw new RangeError("maxAttempts must be at least 1");
    if (!(baseDelayS >= 0 && baseDelayS <= maxDelayS)) {
      throw new RangeError("need 0 <= baseDelayS <= maxDelayS");
    }
    if (!(deadlineS > 0) || !(maxRetryAfterS >= 0)) {
      throw new RangeError("deadlineS must be positive and maxRetryAfterS not negative");
    }
    Object.assign(this, { maxAttempts, baseDelayS, maxDelayS, deadlineS, maxRetryAfterS });
    this.retryStatuses = retryStatuses;
    Object.freeze(this);
  }

  // The upper bound of the n-th retry's delay (n from 1): min(cap, base * 2^(n-1)).
  backoffCap(retryNumber) {
    return Math.min(this.maxDelayS, this.baseDelayS * 2 ** Math.min(retryNumber - 1, 62));
  }

  // Full jitter: uniform over [0, backoffCap(n)].
  backoff(retryNumber, random = Math.random) {
    return random() * this.backoffCap(retryNumber);
  }

  // Why this attempt may be retried, or null.
  // attempt: {number, method, phase, status?, retryAfter?, hasIdempotencyKey}
  isRetryable(attempt) {
    if (attempt.phase === Phase.CONNECT) return "the request never reached the server";
    const safe = IDEMPOTENT_METHODS.has(attempt.method.toUpperCase()) || attempt.hasIdempotencyKey;
    if (!safe) return null;
    if (attempt.phase === Phase.RESPONSE) {
      return this.retryStatuses.has(attempt.status) ? `status ${attempt.status}` : null;
    }
    return `${attempt.phase} failed on an idempotent request`;
  }

  decide(attempt, { elapsedS, random = Math.random }) {
    let reason = this.isRetryable(attempt);
    if (reason === null) return { retry: false, reason: "not retryable" };
    if (attempt.number >= this.maxAttempts) {
      return { retry: false, reason: `${this.maxAttempts} attempts made` };
    }
    let delayS;
    if (attempt.retryAfter !== null && attempt.retryAfter !== undefined) {
      if (attempt.retryAfter > this.maxRetryAfterS) {
        return {
          retry: false,
          reason: `Retry-After ${attempt.retryAfter} s is over the cap of ${this.maxRetryAfterS} s`,
        };
      }
      delayS = attempt.retryAfter;
      reason += `, Retry-After ${delayS} s`;
    } else {
      delayS = this.backoff(attempt.number, random);
    }
    if (elapsedS + delayS > this.deadlineS) {
      return { retry: false, reason: `the ${this.deadlineS} s deadline would pass` };
    }
    return { retry: true, delayS, reason };
  }
}

// gRPC A6 retry throttling: each failed attempt costs a token, each success
// earns tokenRatio back; retries stop while no more than half the tokens are left.
export class RetryThrottle {
  constructor({ maxTokens = 10, tokenRatio = 0.1 } = {}) {
    if (!(maxTokens > 0) || !(tokenRatio > 0)) {
      throw new RangeError("maxTokens and tokenRatio must be positive");
    }
    this.maxTokens = maxTokens;
    this.tokenRatio = tokenRatio;
    this.tokens = maxTokens;
  }

  recordFailure() {
    this.tokens = Math.max(0, this.tokens - 1);
  }

  recordSuccess() {
    this.tokens = Math.min(this.maxTokens, this.tokens + this.tokenRatio);
  }

  allowsRetry() {
    return this.tokens > this.maxTokens / 2;
  }
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY = "(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*";
// IMF-fixdate, RFC 850 and asctime (RFC 9110 s5.6.7).
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
const IMF = new RegExp(`^${DAY}, (\\d{1,2})[ -]([a-z]{3})[ -](\\d{2,4}) ${TIME} gmt$`, "i");
const ASCTIME = new RegExp(`^${DAY} ([a-z]{3}) +(\\d{1,2}) ${TIME} (\\d{4})$`, "i");

function httpDate(text) {
  let day, month, year, hh, mm, ss;
  let m = IMF.exec(text);
  if (m) [, day, month, year, hh, mm, ss] = m;
  else if ((m = ASCTIME.exec(text))) [, month, day, hh, mm, ss, year] = m;
  else return null;
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  if (monthIndex < 0) return null;
  let y = Number(year);
  if (year.length === 2) y += y < 70 ? 2000 : 1900;
  const ms = Date.UTC(y, monthIndex, Number(day), Number(hh), Number(mm), Number(ss));
  return Number.isNaN(ms) ? null : ms;
}

// Seconds to wait from a Retry-After value (delay-seconds or an HTTP-date), or null.
export function parseRetryAfter(value, nowMs = Date.now()) {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) return Number(text);
  const at = httpDate(text);
  if (at === null) return null;
  return Math.max(0, (at - nowMs) / 1000);
}
