/**
 * What a call to the Latch server can fail with. Each kind asks for a different reaction from the
 * agent: show the server's sentence (ApiError), show "offline" and retry later (OfflineError),
 * go back to enrollment (SignedOutError), or report a version mismatch (ProtocolError).
 */
import type { ErrorCode } from '../shared/api.js';

export class LatchClientError extends Error {
  override name = 'LatchClientError';
}

/** The server answered with its error body: a status, a stable code and a sentence for a person. */
export class ApiError extends LatchClientError {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    /** The error body's other fields (`field`, `requestId`, `state`…). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The server could not be reached, did not answer in time, or a proxy in front of it said it is down. */
export class OfflineError extends LatchClientError {
  override name = 'OfflineError';
  constructor(
    readonly baseUrl: string,
    /** What failed: a socket error code (`ECONNREFUSED`), `timeout`, or a proxy's HTTP status. */
    readonly reason: string,
  ) {
    super(`cannot reach the Latch server at ${baseUrl} (${reason}); check the network — Latch keeps retrying`);
  }
}

/**
 * This device has no working credential: never enrolled, signed out, or the server refused its
 * refresh token (FIELD-CASES B41). Enrolling again with a new code from an admin is the way back.
 */
export class SignedOutError extends LatchClientError {
  override name = 'SignedOutError';
  constructor(readonly baseUrl: string, options?: { cause?: unknown }) {
    super(`this device is signed out of the Latch server at ${baseUrl}; enroll it again with a new code from your admin`, options);
  }
}

/** The server's answer does not match the contract (another version, or not a Latch server). */
export class ProtocolError extends LatchClientError {
  override name = 'ProtocolError';
  constructor(readonly baseUrl: string, what: string) {
    super(`the server at ${baseUrl} ${what}; is it a Latch server of the same version?`);
  }
}
