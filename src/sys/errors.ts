// One place that makes every error of the library, shaped like Node's own system
// errors ({code, errno, syscall, path}), so callers can switch on `code`.
import { getSystemErrorMap } from 'node:util';
import { constants } from 'node:os';

export interface CsError extends Error {
  code: string;
  /** Negative, as in Node's own system errors (-2 for ENOENT). */
  errno: number;
  syscall: string;
  path?: string;
}

const errnoByCode = constants.errno as Record<string, number>;
const systemErrors = getSystemErrorMap();

/** errno number (positive, as libc reports it) -> code name, e.g. 2 -> 'ENOENT'. */
export function errnoCode(errno: number): string {
  return systemErrors.get(-errno)?.[0] ?? `E${errno}`;
}

/**
 * Make an error for `code`. `detail` says which part of the input was wrong;
 * it follows the standard text: "EINVAL: invalid argument, csopen '/dev/x': bad proto 'x'".
 */
export function csError(code: string, syscall: string, path?: string, detail?: string): CsError {
  const num = errnoByCode[code] ?? 0;
  const text = systemErrors.get(-num)?.[1] ?? code.toLowerCase();
  let message = `${code}: ${text}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (detail) message += `: ${detail}`;
  const err = new Error(message) as CsError;
  err.code = code;
  err.errno = -num;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  Error.captureStackTrace?.(err, csError);
  return err;
}

/** Make an error from a libc errno value (positive). */
export function errnoError(errno: number, syscall: string, path?: string, detail?: string): CsError {
  return csError(errnoCode(errno), syscall, path, detail);
}

/** Add the cs path to an error raised below the layer that knows it. */
export function withPath<E extends Error>(err: E, path: string): E {
  const e = err as E & { path?: string };
  if (e.path === undefined) {
    e.path = path;
    e.message += ` '${path}'`;
  }
  return err;
}

/**
 * The error of an aborted operation, as Node's own APIs make it: name 'AbortError',
 * code 'ABORT_ERR', and the signal's reason as `cause`.
 */
export function abortError(signal: AbortSignal): Error {
  const err = new Error('The operation was aborted', { cause: signal.reason });
  err.name = 'AbortError';
  Error.captureStackTrace?.(err, abortError);
  return Object.assign(err, { code: 'ABORT_ERR' });
}
