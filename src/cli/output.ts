// What the cs command prints: results as text or JSON on stdout, and each failure
// as one `cs: <message>` line on stderr with the exit status its kind gets.
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A command line that cannot be run as written (exit status 2). */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
}

/** `err` that makes cs exit with `exitCode` instead of 1. */
export function withExitCode<E extends Error>(err: E, exitCode: number): E & { exitCode: number } {
  return Object.assign(err, { exitCode });
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

/** Print `err` as one line (a quoted server log may span several) and return the exit status. */
export function reportFailure(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`cs: ${message.trim().split(/\s*\n\s*/u).join(' | ')}\n`);
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : EXIT_FAILURE;
}
