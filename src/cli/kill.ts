// `cs -k SIG PATH`: send a signal to the server of a service (and the process
// group it leads), only when the kernel ties that process to the service.
import { constants } from 'node:os';
import { signalService } from '../launch/signal';
import { resolveService } from '../launch/service';
import { csError } from '../sys';

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
  return { path: md.path, pid: signalService(md, num), signal: name };
}
