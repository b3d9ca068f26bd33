// cslocal (cs.3): libcs's bootstrap open of a per-user local service, kept for code
// ported from C. It is csopen restricted to the one path form libcs accepts there.
import { csError } from '../sys';
import { parsePath } from '../path';
import { csopen } from './api';

/**
 * Open (starting it if need be) the caller's own instance of a local service:
 * `path` must be `/dev/fdp/local/<service>/user`, else EINVAL. Same result and
 * errors as csopen(path).
 */
export function cslocal(path: string): number {
  const p = parsePath(path);
  const only = p.proto === 'fdp' && p.host === 'local' && p.service !== null && p.options.user === ''
    && p.options.group === null && p.qualifiers.length === 0 && p.arg === null;
  if (!only) throw csError('EINVAL', 'cslocal', path, 'expected /dev/fdp/local/<service>/user');
  return csopen(path);
}
