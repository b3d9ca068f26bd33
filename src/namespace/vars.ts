// csvar (cs.3): the run-time settings libcs reads from the environment, by index,
// with the built-in default a trusting caller gets instead.
import { csError } from '../sys/errors';
import { DEFAULT_ROOT } from './mount';

/** The namespace root ($CS_MOUNT_LOCAL): the one of these cs itself uses. */
export const CS_VAR_LOCAL = 0;
/** libcs's proxy service path ($CS_MOUNT_PROXY). */
export const CS_VAR_PROXY = 1;
/** libcs's share mount directory ($CS_MOUNT_SHARE). */
export const CS_VAR_SHARE = 2;
/** libcs's trusted root directories ($CS_MOUNT_TRUST). */
export const CS_VAR_TRUST = 3;

const VARS: readonly [env: string, builtIn: string][] = [
  ['CS_MOUNT_LOCAL', DEFAULT_ROOT],
  ['CS_MOUNT_PROXY', '/dev/tcp/proxy/inet.proxy'],
  ['CS_MOUNT_SHARE', 'share/lib/cs'],
  ['CS_MOUNT_TRUST', '/usr/local:/usr'],
];

/**
 * The value of setting `index` (CS_VAR_*): its environment variable when set and not
 * empty, else libcs's built-in default; with `trust` always the built-in default
 * (what a set-uid program must use). EINVAL for another index.
 */
export function csvar(index: number, trust = false): string {
  const v = VARS[index];
  if (!Number.isInteger(index) || v === undefined) throw csError('EINVAL', 'csvar', undefined, `index must be CS_VAR_LOCAL..CS_VAR_TRUST (0..3), got ${index}`);
  return (!trust && process.env[v[0]]) || v[1];
}
