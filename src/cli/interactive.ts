// `cs -i PATH` and `cs -q PATH`: stdin to the stream and the stream to stdout.
// End of stdin half-closes the stream; cs exits when the service closes its side.
import { formatPath, parsePath } from '../path';
import { open } from '../open';

/** `path` with the `test` option: open only a running service, never start one. */
function neverStart(path: string): string {
  const p = parsePath(path);
  return formatPath({ ...p, options: { ...p.options, test: true } });
}

export async function interact(path: string, query: boolean): Promise<void> {
  const conn = await open(query ? neverStart(path) : path);
  const stdin = process.stdin;
  try {
    await new Promise<void>((resolve, reject) => {
      conn.once('error', reject);
      conn.once('end', resolve);
      // a reader that went away (cs -i ... | head -1) ends the session quietly
      process.stdout.once('error', () => resolve());
      conn.pipe(process.stdout, { end: false });
      stdin.pipe(conn);
    });
  } finally {
    stdin.unpipe(conn);
    stdin.destroy();
    conn.destroy();
  }
}
