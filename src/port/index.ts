// Service name -> tcp/udp port (SPEC 2): a decimal number, a name from the services
// file, or the name hashed the same way on every machine. Only I/O: reading that file.
import { readFileSync, statSync } from 'node:fs';
import { csError } from '../sys/errors';

const DEFAULT_SERVICES_FILE = '/etc/services';
const HASH_MULTIPLIER = 0x63c63cd9;
const HASH_ADDEND = 0x9c39c33d;
const FIRST_HASHED_PORT = 5001;
const HASHED_PORTS = 65536 - FIRST_HASHED_PORT;

/** AT&T AST's linear congruential hash of the UTF-8 bytes of `name`, folded into 5001..65535. */
export function hashPort(name: string): number {
  let h = 0;
  for (const c of Buffer.from(name, 'utf8')) {
    // Math.imul keeps the low 32 bits exactly; a plain product would exceed 2^53 and lose them.
    h = (Math.imul(h, HASH_MULTIPLIER) + HASH_ADDEND + c) >>> 0;
  }
  return FIRST_HASHED_PORT + (h % HASHED_PORTS);
}

/**
 * The port of `service` for `type`: a decimal number 1..65535; `inet.<name>` or a name
 * listed in the services file for that protocol; else hashPort(service).
 */
export function csport(type: 'tcp' | 'udp', service: string, servicesFile?: string): number {
  if (service === '') throw csError('EINVAL', 'csport', undefined, 'empty service name');
  if (/^[0-9]+$/u.test(service)) {
    const port = Number(service);
    if (port < 1 || port > 65535) throw csError('EINVAL', 'csport', undefined, `port ${service} is out of range 1..65535`);
    return port;
  }
  const services = lookupServicesFile(servicesFile);
  if (service.startsWith('inet.')) {
    const port = services.get(`${service.slice('inet.'.length)}/${type}`);
    if (port === undefined) throw csError('ENOENT', 'csport', undefined, `unknown service ${service} for ${type}`);
    return port;
  }
  const listed = services.get(`${service}/${type}`);
  if (listed !== undefined) return listed;
  // '12ab' or '+80' is more likely a mistyped port than a name: hashing it would hide the typo.
  if (/^[+-]?[0-9]/u.test(service)) {
    throw csError('EINVAL', 'csport', undefined, `'${service}' is neither a port number 1..65535 nor a ${type} service in the services file`);
  }
  return hashPort(service);
}

interface CachedServices {
  mtimeMs: number;
  size: number;
  ino: number;
  ports: Map<string, number>;
}
const cache = new Map<string, CachedServices>();

/**
 * The services file as `${name}/${proto}` -> port, aliases included, first entry winning
 * as in getservbyname. Cached until the file changes; a missing file is an empty map.
 * The map is shared by all callers: read it, do not change it.
 */
export function lookupServicesFile(file: string = DEFAULT_SERVICES_FILE): Map<string, number> {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st === undefined) {
    cache.delete(file);
    return new Map();
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size && hit.ino === st.ino) return hit.ports;
  const ports = parseServices(readFileSync(file, 'utf8'));
  cache.set(file, { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, ports });
  return ports;
}

/** Lines of `name port/proto [alias...] [# comment]`; malformed lines are skipped, as libc does. */
function parseServices(text: string): Map<string, number> {
  const ports = new Map<string, number>();
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/u, '').trim().split(/\s+/u);
    const m = /^([0-9]+)\/([A-Za-z0-9_-]+)$/u.exec(fields[1] ?? '');
    if (!m) continue;
    const port = Number(m[1]);
    if (port < 1 || port > 65535) continue;
    for (const name of [fields[0]!, ...fields.slice(2)]) {
      const key = `${name}/${m[2]}`;
      if (!ports.has(key)) ports.set(key, port);
    }
  }
  return ports;
}
