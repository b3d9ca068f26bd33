// What the cs command prints: results as text or JSON on stdout, and each failure
// as one `cs: CODE: message` line on stderr (with --json, one JSON object on stderr)
// with the exit status its kind gets.
import { csError, type CsError } from '../sys';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** `err` that makes cs exit with `exitCode` instead of 1. */
export function withExitCode<E extends Error>(err: E, exitCode: number): E & { exitCode: number } {
  return Object.assign(err, { exitCode });
}

/** A command line that cannot be run as written: EINVAL, exit status 2. */
export function usageError(detail: string): CsError {
  return withExitCode(csError('EINVAL', 'usage', undefined, `${detail} (see cs --help)`), EXIT_USAGE);
}

/** Run `check` on a word of the command line: whatever it throws is a usage error (exit status 2). */
export function asUsage<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw withExitCode(e as Error, EXIT_USAGE);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printLines(lines: readonly string[]): void {
  if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
}

/** Rows as left-aligned columns separated by two spaces (the last one unpadded). */
export function columns(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell)).join('  '));
}

/** The exit status `err` asks for: its exitCode, else 1. */
function exitStatus(err: unknown): number {
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : EXIT_FAILURE;
}

/**
 * Report `err` on stderr and return the exit status: one line `cs: CODE: message`
 * (a quoted server log is folded with ` | `), or with `json` one line
 * {"code", "errno", "syscall", "path", "message", "status"}.
 */
export function reportFailure(err: unknown, json: boolean): number {
  const e = (err ?? {}) as Partial<CsError>;
  const status = exitStatus(err);
  const raw = err instanceof Error ? err.message : String(err);
  const code = typeof e.code === 'string' ? e.code : 'EIO';
  // cs's own errors start with their code; anything else gets one
  const message = (raw.startsWith(`${code}: `) ? raw : `${code}: ${raw}`).trim().split(/\s*\n\s*/u).join(' | ');
  if (json) {
    const fields = { code, errno: e.errno ?? null, syscall: e.syscall ?? null, path: e.path ?? null, message, status };
    process.stderr.write(JSON.stringify(fields) + '\n');
  } else {
    process.stderr.write(`cs: ${message}\n`);
  }
  return status;
}
