// `cs PATH` (open the service, starting it if needed, and print its canonical path)
// and `cs PATH COMMAND...` (run COMMAND with its stdin and stdout on the stream).
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { csclose, csopen, cspath } from '../open';
import { csError } from '../sys';
import { printJson, printLines, withExitCode } from './output';

/** Shell conventions for a command that could not be run. */
const EXIT_NOT_FOUND = 127;
const EXIT_NOT_EXECUTABLE = 126;
/** Signals a user sends to cs that belong to the command it runs. */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function openAndPrint(path: string, json: boolean): void {
  const fd = csopen(path);
  try {
    const canonical = cspath(fd);
    if (json) printJson({ path: canonical });
    else printLines([canonical]);
  } finally {
    csclose(fd);
  }
}

/** Run `command` on a blocking stream fd (its own copy: cs closes the stream at once); resolves to its exit status. */
export async function runOnStream(path: string, command: string[]): Promise<number> {
  const fd = csopen(path);
  let child: ChildProcess;
  try {
    child = spawn(command[0]!, command.slice(1), { stdio: [fd, fd, 'inherit'] });
  } finally {
    csclose(fd);
  }
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        const status = e.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
        reject(withExitCode(csError(e.code ?? 'EIO', 'spawn', command[0], 'cannot run the command'), status));
      });
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  }
}
