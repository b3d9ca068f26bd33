// Who is at the other end of an internet socket. The kernel's socket table
// (/proc/net/tcp, tcp6) lists every socket of this host with its owner's uid: a
// peer whose own socket is in it is on this host and gets that uid; any other
// peer is remote and is known only by its address (uid/gid -1).
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { localInet } from '../sys';
import type { CsId } from '../stream/flags';
import { canonicalAddress, ipv4Number } from './hosts';

export interface Endpoint {
  address: string;
  port: number;
}

export interface NetId extends CsId {
  /** The peer's address and port. */
  address: string;
  port: number;
  /** True when the kernel's socket table shows the peer's socket on this host. */
  local: boolean;
}

/** A table address (hex, 32-bit words in host byte order) as canonical text. */
function tableAddress(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  if (endianness() === 'LE') for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  if (bytes.length === 4) return [...bytes].join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  return canonicalAddress(words.join(':'));
}

const TIME_WAIT = 0x06;
const LISTEN = 0x0a;

interface TableEntry {
  local: string;
  localPort: number;
  remote: string;
  state: number;
  uid: number;
}

/** Every socket of this host (network namespace) for `proto`, IPv4 and IPv6 tables alike. */
function socketTable(proto: 'tcp' | 'udp'): TableEntry[] {
  const entries: TableEntry[] = [];
  for (const table of [proto, `${proto}6`]) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${table}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local rem st queues tr retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/u);
      if (f.length < 10) continue;
      const [la, lp] = f[1].split(':');
      const [ra, rp] = f[2].split(':');
      const local = tableAddress(la);
      entries.push({ local: `${local}:${parseInt(lp, 16)}`, localPort: parseInt(lp, 16), remote: `${tableAddress(ra)}:${parseInt(rp, 16)}`, state: parseInt(f[3], 16), uid: Number(f[7]) });
    }
  }
  return entries;
}

const WILDCARDS = ['0.0.0.0', '::'];

/**
 * The uid owning the socket of this host whose local end is `local` and remote end
 * `remote`, or null when there is none (a remote peer, or one already gone). With
 * `listener`, a peer that is a server may also be found by its listening socket
 * (a connection still in its accept queue may not be listed yet).
 */
export function socketOwner(proto: 'tcp' | 'udp', local: Endpoint, remote: Endpoint, listener = false): number | null {
  const address = canonicalAddress(local.address);
  const want = { local: `${address}:${local.port}`, remote: `${canonicalAddress(remote.address)}:${remote.port}` };
  const table = socketTable(proto);
  // TIME_WAIT entries belong to nobody any more (the table shows uid 0 for them)
  const exact = table.find((e) => e.state !== TIME_WAIT && e.local === want.local && e.remote === want.remote);
  if (exact) return exact.uid;
  if (!listener || proto !== 'tcp') return null;
  const listening = table.find((e) => e.state === LISTEN && e.localPort === local.port && [address, ...WILDCARDS].some((a) => e.local === `${a}:${local.port}`));
  return listening ? listening.uid : null;
}

/**
 * The identity of the peer of connected socket `fd`, as far as the kernel knows it;
 * `peerIsServer` for a client asking about its server.
 */
export function peerId(fd: number, proto: 'tcp' | 'udp' = 'tcp', peerIsServer = false): NetId {
  const me = localInet(fd);
  const peer = localInet(fd, true);
  const address = canonicalAddress(peer.address);
  const uid = socketOwner(proto, { address, port: peer.port }, me, peerIsServer);
  return { hid: ipv4Number(address), pid: -1, uid: uid ?? -1, gid: -1, groups: [], address, port: peer.port, local: uid !== null };
}
