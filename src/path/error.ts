// Errors of the path grammar: one maker, so every message quotes the path and names
// the bad part in the same printable way.
import { csError, CsError } from '../sys/errors';

/** Characters a message may show as they are; anything else is written as U+XXXX. */
const PRINTABLE = /^[\x20-\x7e]$/u;

/** `c` as a message shows it: 'x', or U+0009 for a tab (control and non-ASCII text stays readable). */
export function showChar(c: string): string {
  if (PRINTABLE.test(c)) return `'${c}'`;
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `text` with control characters escaped, so a message never carries raw control bytes. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** A parse error of `path`; err.path keeps the path exactly as given. */
export function pathError(path: string, code: string, detail: string): CsError {
  const err = csError(code, 'csopen', printable(path), detail);
  err.path = path;
  return err;
}

/** The first character of `text` outside `allowed` (a one-character class), or null. */
export function firstBadChar(text: string, allowed: RegExp): string | null {
  for (const c of text) if (!allowed.test(c)) return c;
  return null;
}
