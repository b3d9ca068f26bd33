// `cs -k SIG PATH`: send a signal to the server of a service, as P-cs.mnt records
// it, and only while that process is still the server.
import { constants } from 'node:os';
import { recordedServer } from '../namespace';
import { resolveService } from '../launch/service';
import { csError, type CsError } from '../sys';

export interface Signalled {
  path: string;
  pid: number;
  signal: string;
}

/**
 * `TERM`, `SIGTERM`, `term` or a number (0 only checks that the server exists), with
 * or without kill(1)'s leading `-` -> [name, number].
 */
export function parseSignal(given: string): [string, number] {
  const signals = constants.signals as Record<string, number>;
  const text = given.replace(/^-/u, '');
  if (/^\d+$/u.test(text)) {
    const num = Number(text);
    const name = num === 0 ? '0' : Object.keys(signals).find((n) => signals[n] === num);
    if (name !== undefined) return [name, num];
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
    if (signals[name] !== undefined) return [name, signals[name]];
  }
  throw csError('EINVAL', 'kill', undefined, `unknown signal '${given}'`);
}

export function signalServer(signal: string, path: string): Signalled {
  const { md } = resolveService(path, 'kill');
  const [name, num] = parseSignal(signal);
  const { pid, alive } = recordedServer(md);
  if (pid === null) throw csError('ESRCH', 'kill', md.path, `no server is recorded in ${md.pidLink}`);
  if (!alive) throw csError('ESRCH', 'kill', md.path, `the recorded server pid ${pid} is not running`);
  try {
    process.kill(pid, num);
  } catch (e) {
    throw csError((e as CsError).code ?? 'EPERM', 'kill', md.path, `cannot signal server pid ${pid}`);
  }
  return { path: md.path, pid, signal: name };
}
