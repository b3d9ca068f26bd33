// csopen's flags are the path's options by another name, as in libcs (CS_OPEN_LOCAL is
// `/local`, ...): they are folded into the path before anything else looks at it, so
// each option has one meaning. Options that cannot mean anything for a given path or
// call are refused here with an error that names them.
import { csError } from '../sys';
import { formatPath, parsePath, type CsPath, type CsPathOptions } from '../path';
import {
  CS_OPEN_AGENT, CS_OPEN_LOCAL, CS_OPEN_MOUNT, CS_OPEN_NOW, CS_OPEN_REMOTE, CS_OPEN_SHARE, CS_OPEN_SLAVE, CS_OPEN_TEST, CS_OPEN_TRUST,
} from '../stream/flags';

const FLAG_OPTIONS: [number, keyof CsPathOptions][] = [
  [CS_OPEN_LOCAL, 'local'], [CS_OPEN_NOW, 'now'], [CS_OPEN_REMOTE, 'remote'], [CS_OPEN_SHARE, 'share'], [CS_OPEN_SLAVE, 'slave'], [CS_OPEN_TEST, 'test'],
];

/**
 * `path` with csopen's `flags` written into it as options. CS_OPEN_MOUNT (libcs returns
 * 0 and only makes the mount directory) and CS_OPEN_AGENT (libcs's remote
 * authentication agent, which cs's key handshake replaces) are EINVAL.
 */
export function withFlags(path: string, flags: number): string {
  if (flags & CS_OPEN_MOUNT) throw csError('EINVAL', 'csopen', path, 'CS_OPEN_MOUNT: libcs answers 0 instead of a stream; the mount directory is what `cs -m PATH` prints');
  if (flags & CS_OPEN_AGENT) throw csError('EINVAL', 'csopen', path, 'CS_OPEN_AGENT: libcs\'s remote authentication agent is replaced by the tcp key handshake (see csauth)');
  const p = parsePath(path);
  if (!FLAG_OPTIONS.some(([flag]) => flags & flag) && !(flags & CS_OPEN_TRUST)) return path;
  const options = { ...p.options };
  for (const [flag, name] of FLAG_OPTIONS) if (flags & flag) (options[name] as boolean) = true;
  if (flags & CS_OPEN_TRUST) options.trust ??= '';
  return formatPath({ ...p, options });
}

/**
 * Refuse options that mean nothing for this open: a `/#` argument on tcp/udp (no
 * rendezvous carries it there), `remote` and `now` on fdp (a
 * local stream has no remote host, and its open completes only with the server's
 * greeting); `now` on a `user`/`group` tcp service (its access handshake needs the
 * connection) and in the async `open()`, which never blocks anyway.
 */
export function checkOpenOptions(p: CsPath, syscall: 'csopen' | 'open'): void {
  const { now, remote, user, group } = p.options;
  if (p.arg !== null && p.proto !== 'fdp') throw csError('EINVAL', syscall, p.canonical, `'/#${p.arg}': arguments reach fdp servers only (libcs sends them in its own tcp authentication, which cs replaces)`);
  if (p.proto === 'fdp' && remote) throw csError('EINVAL', syscall, p.canonical, 'remote: an fdp stream is local; only tcp/udp services start on a remote host');
  if (!now) return;
  if (p.proto === 'fdp') throw csError('EINVAL', syscall, p.canonical, 'now: an fdp open completes only with the server\'s greeting; now applies to tcp/udp connects');
  if (syscall === 'open') throw csError('EINVAL', syscall, p.canonical, 'now: open() never blocks; now is for csopen');
  if (user !== null || group !== null) throw csError('EINVAL', syscall, p.canonical, 'now: a user/group service\'s access handshake needs the finished connection');
}
