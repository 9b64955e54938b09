/** Errors a client can act on: a status, a stable code and one sentence saying what to do. */
import type { ErrorCode } from '../../shared/api.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} was not found, or you may not see it`);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
