/**
 * Errors of the REST API and the one function that turns any error into an HTTP status and a fault message
 * (Firecracker style: a request either succeeds with 204/200 or fails with a status and `{"fault_message"}`).
 *
 * Three kinds of error reach the server: `ApiError` (the request itself is wrong: parse, route, size, state of
 * the API), `HvError` (the library refused: errno-style codes) and `ImageError` (the guest image is unusable).
 * Anything else is a bug of hartvisor and becomes a 500.
 */
import { ImageError } from '../boot/image-error.js';
import { HvError, type HvErrorCode } from '../hv/errors.js';

/** What is wrong with a request, as the API sees it. Each kind has exactly one HTTP status (`httpErrorOf`). */
export type ApiErrorKind =
  /** Malformed JSON, unknown field, wrong type, value out of range, bad path parameter or query, unusable image. */
  | 'bad-request'
  /** No such route, or no such vCPU. */
  | 'not-found'
  /** The route exists but not with this method. */
  | 'method-not-allowed'
  /** The request is well formed but the VM's state forbids it (no VM yet, a VM running, VM paused, ...). */
  | 'conflict'
  /** The request body is larger than the server accepts. */
  | 'payload-too-large';

/** A request the API refuses. `message` is one line for a person; it becomes the `fault_message`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Shorthand for the most common refusal: a bad request (400). */
export function badRequest(message: string): ApiError {
  return new ApiError('bad-request', message);
}

/** Shorthand for a refusal because of the VM's state (409). */
export function conflict(message: string): ApiError {
  return new ApiError('conflict', message);
}

/** HTTP status of each API error kind. */
const KIND_STATUS: Readonly<Record<ApiErrorKind, number>> = {
  'bad-request': 400,
  'not-found': 404,
  'method-not-allowed': 405,
  conflict: 409,
  'payload-too-large': 413,
};

/**
 * HTTP status of each library error code. The codes are errno names (hv/errors.ts), so the mapping reads like
 * a KVM ioctl's: EINVAL is the caller's mistake, EEXIST/EBUSY/EBADF a state conflict, ENODEV an absent vCPU,
 * ETIMEDOUT the guest not answering.
 */
function hvStatus(code: HvErrorCode): number {
  switch (code) {
    case 'EINVAL': return 400;
    case 'ENODEV': return 404;
    case 'EEXIST': return 409;
    case 'EBUSY': return 409;
    case 'EBADF': return 409;
    case 'ETIMEDOUT': return 504;
    default: {
      const never: never = code;
      return never;
    }
  }
}

/** An error as the HTTP client sees it. */
export interface HttpError {
  readonly status: number;
  /** One line, for `{"fault_message": ...}`. */
  readonly message: string;
}

/**
 * The single mapping from errors to HTTP: ApiError by kind, HvError by code, ImageError 400, anything else 500
 * (an internal error, reported with its message so that a bug report can quote it).
 */
export function httpErrorOf(err: unknown): HttpError {
  if (err instanceof ApiError) return { status: KIND_STATUS[err.kind], message: oneLine(err.message) };
  if (err instanceof HvError) return { status: hvStatus(err.code), message: oneLine(err.message) };
  if (err instanceof ImageError) return { status: 400, message: oneLine(`unusable image: ${err.message}`) };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, message: oneLine(`internal error: ${message}`) };
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
