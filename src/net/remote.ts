// Starting a tcp/udp service on another host: the launch entry's `hosts` list,
// `share` as the least-loaded live host the status routines know, and the remote
// shell ($CS_REMOTE_SHELL, default ssh) that runs `cs /dev/<proto>/local/...` there.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { closeAll, csError, memfd } from '../sys';
import { isThisHost } from '../namespace';
import { formatPath, type CsPath } from '../path';
import { handshakeTimeout } from '../io';
import { csstat, statHosts, type CsStat } from './stat';

export interface RemoteStartOptions {
  /** Bound on the whole remote command; default $CS_TIMEOUT_MS or 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Live hosts (status fresher than the down limit), least loaded first. */
export function liveHosts(): { host: string; stat: CsStat }[] {
  const live: { host: string; stat: CsStat }[] = [];
  for (const host of statHosts()) {
    try {
      const stat = csstat(host);
      if (stat.up > 0) live.push({ host, stat });
    } catch {
      // a status file being replaced or damaged: that host is not a candidate now
    }
  }
  const busy = (s: CsStat) => s.pctusr + s.pctsys;
  return live.sort((a, b) => a.stat.load - b.stat.load || busy(a.stat) - busy(b.stat) || a.host.localeCompare(b.host));
}

/** The least-loaded live host (among `candidates`, if given), or null when none is known. */
export function pickShareHost(candidates?: readonly string[]): string | null {
  const allowed = candidates?.map((c) => c.toLowerCase());
  return liveHosts().find((h) => !allowed || allowed.includes(h.host))?.host ?? null;
}

/**
 * Where a service may be started, in order, from its `hosts` lines (null: no hosts
 * file, which means `share` then `local`): `share` expands to the live hosts,
 * least loaded first; this host in any spelling is `local`.
 */
export function expandHosts(lines: readonly string[] | null): string[] {
  const out: string[] = [];
  for (const line of lines ?? ['share', 'local']) {
    const hosts = line === 'share' ? liveHosts().map((h) => h.host) : [line];
    for (const h of hosts) {
      const host = isThisHost(h) ? 'local' : h.toLowerCase();
      if (!out.includes(host)) out.push(host);
    }
  }
  return out;
}

/** The remote shell command: $CS_REMOTE_SHELL split at white space, default `ssh`. */
export function remoteShell(): string[] {
  const words = (process.env.CS_REMOTE_SHELL ?? '').trim().split(/\s+/u).filter(Boolean);
  return words.length ? words : ['ssh'];
}

/** Quote for the remote shell, which (like ssh's) reads the command as one shell line. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/gu, `'\\''`)}'`;
}

/**
 * argv that runs `cs` for path `p` on `host`: `<shell...> host cs '/dev/<proto>/local/<service>/local...'`.
 * `local` makes that `cs` start the service where it runs, without reading the hosts
 * file again (which could send it on to yet another host).
 */
export function remoteCommand(host: string, p: CsPath): string[] {
  if (p.host === null || p.service === null) throw csError('EISDIR', 'csopen', p.canonical, 'the path names a directory, not a service');
  const there = formatPath({ ...p, host: 'local', options: { ...p.options, share: false, remote: false, local: true } });
  return [...remoteShell(), host, 'cs', shellQuote(there)];
}

/** The port the remote `cs` reported opening (`/dev/<proto>/<address>/<port>`), or null. */
function reportedPort(stdout: string, proto: string): number | null {
  const m = new RegExp(`/dev/${proto}/[^/\\s]+/(\\d+)\\s*$`, 'u').exec(stdout);
  return m ? Number(m[1]) : null;
}

function failure(host: string, p: CsPath, code: number | null, signal: string | null, stderr: string): Error {
  const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
  const tail = stderr.trim().split('\n').slice(-3).join(' | ');
  return csError(signal === 'SIGKILL' ? 'ETIMEDOUT' : 'EREMOTEIO', 'csopen', p.canonical, `starting it on ${host}: ${remoteShell()[0]} ${how}${tail ? `: ${tail}` : ''}`);
}

/**
 * Output of the remote command goes to anonymous files, not pipes: a process the
 * remote side leaves behind holding them cannot keep us waiting past its exit.
 */
function outputFiles(): { fds: [number, number]; read(): { stdout: string; stderr: string }; close(): void } {
  const fds: [number, number] = [memfd('cs-remote-out'), memfd('cs-remote-err')];
  return {
    fds,
    read: () => {
      const [stdout, stderr] = fds.map((fd) => readFileSync(`/proc/self/fd/${fd}`, 'utf8'));
      return { stdout, stderr };
    },
    close: () => closeAll(fds),
  };
}

function notFound(cmd: string, p: CsPath): Error {
  return csError('ENOENT', 'csopen', p.canonical, `remote shell '${cmd}' not found`);
}

/**
 * Start the service of `p` on `host` through the remote shell (blocking); returns
 * the port the remote server listens on when the remote `cs` reported it, else null.
 */
export function remoteStartSync(host: string, p: CsPath, opts: RemoteStartOptions = {}): number | null {
  const [cmd, ...args] = remoteCommand(host, p);
  const out = outputFiles();
  try {
    const r = spawnSync(cmd, args, { timeout: opts.timeoutMs ?? handshakeTimeout(), killSignal: 'SIGKILL', stdio: ['ignore', ...out.fds] });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw notFound(cmd, p);
    const { stdout, stderr } = out.read();
    if (r.status !== 0) throw failure(host, p, r.status, r.signal, stderr);
    return reportedPort(stdout, p.proto);
  } finally {
    out.close();
  }
}

/** Async form of remoteStartSync. */
export function remoteStart(host: string, p: CsPath, opts: RemoteStartOptions = {}): Promise<number | null> {
  const [cmd, ...args] = remoteCommand(host, p);
  const out = outputFiles();
  let timer: NodeJS.Timeout | undefined;
  return new Promise<number | null>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', ...out.fds], signal: opts.signal, killSignal: 'SIGKILL' });
    // our own timer, not spawn's: that one outlives a child that never started
    timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? handshakeTimeout());
    child.once('error', (e) => reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? notFound(cmd, p) : e));
    child.once('exit', (code, signal) => {
      const { stdout, stderr } = out.read();
      if (code === 0) resolve(reportedPort(stdout, p.proto));
      else reject(failure(host, p, code, signal, stderr));
    });
  }).finally(() => {
    clearTimeout(timer);
    out.close();
  });
}
