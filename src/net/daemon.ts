// csdaemon (cs.3) for a server started by hand: go to the background, out of the
// terminal's session. Node cannot fork(2), so the program runs again as a detached
// child (its own session, no terminal on stdio) and the parent exits; in the child
// the call returns 0. Call it before opening streams.
import { spawn } from 'node:child_process';
import { isatty } from 'node:tty';

/** Set in the child's environment; the child removes it so its own children start fresh. */
const MARK = 'CS_DAEMON_CHILD';

/** Move this program to the background: in the parent it never returns; in the child it returns 0. */
export function csdaemon(): number {
  if (process.env[MARK] === '1') {
    delete process.env[MARK];
    return 0;
  }
  const stdio = [0, 1, 2].map((fd) => (isatty(fd) ? 'ignore' : 'inherit')) as ('ignore' | 'inherit')[];
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio,
    env: { ...process.env, [MARK]: '1' },
  });
  child.unref();
  process.exit(0);
}
