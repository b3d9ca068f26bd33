// This machine's names, and the directory name libcs gives it in the namespace.
import { hostname, networkInterfaces } from 'node:os';

/** libcs cuts host directory names at 14 bytes and uses the address instead. */
const MAX_HOST_DIR = 14;

let cached: { full: string; short: string; dir: string } | null = null;

function names() {
  if (cached) return cached;
  const full = hostname().toLowerCase();
  const short = full.split('.')[0] || 'local';
  let dir = short;
  if (Buffer.byteLength(dir) > MAX_HOST_DIR) {
    const addr = primaryAddress();
    const hex = '0x' + addr.split('.').map((o) => Number(o).toString(16).toUpperCase()).join('.');
    dir = addr.length <= MAX_HOST_DIR ? addr : hex;
  }
  cached = { full, short, dir };
  return cached;
}

/** This host's address for others to reach it: its first external IPv4 address, else loopback (a netlink query each call). */
export function primaryAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    const v4 = list?.find((i) => i.family === 'IPv4' && !i.internal);
    if (v4) return v4.address;
  }
  return '127.0.0.1';
}

/** The name used for this host under <root>/<proto>/. */
export function hostDirName(): string {
  return names().dir;
}

/** This host's name cut at its first dot. */
export function shortHostName(): string {
  return names().short;
}

/** True when `host` (as written in a path) means this machine. */
export function isThisHost(host: string): boolean {
  const n = names();
  const h = host.toLowerCase();
  return h === 'local' || h === 'localhost' || h === '127.0.0.1' || h === '[::1]' || h === n.full || h === n.short || h === n.dir;
}
