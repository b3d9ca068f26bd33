// Connecting a client port: find the registration, open it, do the CAPS handshake;
// auto-start or CAPF_WAITSVC when there is none. One generator, two drivers (sync, async).
import { csopen, open } from '../open';
import { forget, lookup } from '../stream/registry';
import { stepThrough, stepThroughAsync } from '../io';
import { csError, dup, type CsError } from '../sys';
import { clientPort, type ClientPort } from './client';
import { CAPF_ANYCLIENT, CAPF_WAITSVC } from './constants';
import { keyPath, type CapsKey } from './key';
import { NamespaceWatch } from './nswatch';
import { findRegistrations, registrationDirs } from './registry';

type Step =
  | { kind: 'watch'; dirs: string[] }
  | { kind: 'open'; path: string; key: CapsKey }
  | { kind: 'change' };

/** The service went away (or never answered) between the lookup and the connection. */
function gone(e: unknown): boolean {
  const code = (e as CsError).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ECONNRESET';
}

/**
 * The lookup: each query in order (the generic fallback passes several), each
 * registration newest first. A socket in a key's place whose owner could not have
 * registered the key (EPERM) is passed over. When nothing is registered: open the
 * key's own path, which starts the service if it has a launch entry; with
 * CAPF_WAITSVC instead wait on namespace events for a registration, and look again.
 */
function* connecting(queries: CapsKey[], startKey: CapsKey, flags: number, syscall: string): Generator<Step, ClientPort, ClientPort | undefined> {
  const waiting = (flags & CAPF_WAITSVC) !== 0;
  for (;;) {
    // watch first, then look: a registration made in between is found or seen; the
    // watch set is redone until it matches the directories that exist once it is in place
    for (let dirs = waiting ? registrationDirs(queries) : null; dirs; ) {
      yield { kind: 'watch', dirs };
      const now = registrationDirs(queries);
      dirs = now.join('\0') === dirs.join('\0') ? null : now;
    }
    let refused: CsError | null = null;
    for (const q of queries) {
      for (const key of findRegistrations(q)) {
        try {
          return (yield { kind: 'open', path: `${keyPath(key)}/test`, key })!;
        } catch (e) {
          if ((e as CsError).code === 'EPERM') refused = e as CsError;
          else if (!gone(e)) throw e;
        }
      }
    }
    if (waiting) {
      yield { kind: 'change' };
      continue;
    }
    try {
      return (yield { kind: 'open', path: keyPath(startKey), key: startKey })!;
    } catch (e) {
      if (!gone(e)) throw e;
    }
    throw refused ?? csError('ENOENT', syscall, keyPath(startKey), 'no such service is registered');
  }
}

export function connectSync(queries: CapsKey[], startKey: CapsKey, flags: number, syscall: string): ClientPort {
  const steps = connecting(queries, startKey, flags, syscall);
  let watch: NamespaceWatch | null = null;
  const perform = (step: Step): ClientPort | undefined => {
    if (step.kind === 'watch') return void (watch ??= new NamespaceWatch()).watchSync(step.dirs);
    if (step.kind === 'change') return void watch!.changeSync();
    const fd = csopen(step.path);
    const server = lookup(fd)!.peer!; // the process that greeted, which csopen remembered
    forget(fd);
    const port = clientPort(step.key, fd, server, flags & CAPF_ANYCLIENT, syscall);
    try {
      port.welcomeSync(syscall);
    } catch (e) {
      port.close();
      throw e;
    }
    return port;
  };
  try {
    return stepThrough(steps, perform);
  } finally {
    (watch as NamespaceWatch | null)?.close();
  }
}

export async function connect(queries: CapsKey[], startKey: CapsKey, flags: number, syscall: string, signal?: AbortSignal): Promise<ClientPort> {
  const steps = connecting(queries, startKey, flags, syscall);
  let watch: NamespaceWatch | null = null;
  const perform = async (step: Step): Promise<ClientPort | undefined> => {
    if (step.kind === 'watch') return void (await (watch ??= new NamespaceWatch()).watch(step.dirs));
    if (step.kind === 'change') return void (await watch!.change(signal));
    const conn = await open(step.path, { signal });
    let fd: number;
    try {
      fd = dup(conn.fd);
    } finally {
      conn.destroy();
    }
    const port = clientPort(step.key, fd, conn.peer, flags & CAPF_ANYCLIENT, syscall);
    try {
      await port.welcome(syscall);
    } catch (e) {
      port.close();
      throw e;
    }
    return port;
  };
  try {
    return await stepThroughAsync(steps, perform);
  } finally {
    (watch as NamespaceWatch | null)?.close();
  }
}
