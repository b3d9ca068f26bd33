// The host component of a cs path: host names, dotted IPv4, bracketed IPv6, each
// checked and written in one canonical spelling. Whether a host is this machine needs
// I/O and is decided elsewhere.
import type * as Net from 'node:net';
import { firstBadChar, pathError, showChar } from './error';

// IPv6 hosts only: parsing any other path never loads node:net (and node:stream with it)
const isIPv6 = (address: string): boolean => (require('node:net') as typeof Net).isIPv6(address);

export const MAX_HOST_NAME = 255;
export const MAX_HOST_LABEL = 63;

const HOST_CHAR = /^[A-Za-z0-9._-]$/u;
/** Interface names or scope numbers after '%' in a link-local IPv6 address. */
const ZONE = /^[A-Za-z0-9_.-]+$/u;

/** The canonical spelling of host component `text` of `path`; throws on a bad host. */
export function canonicalHost(path: string, text: string): string {
  if (text.startsWith('[')) return canonicalIPv6(path, text);
  const bad = firstBadChar(text, HOST_CHAR);
  if (bad !== null) {
    throw pathError(path, 'EINVAL', `host '${text}' has a character that is not allowed: ${showChar(bad)}`);
  }
  // Names made only of digits and dots are addresses to the resolver, never names.
  if (/^[0-9.]+$/u.test(text)) return checkIPv4(path, text);
  if (text.length > MAX_HOST_NAME) {
    throw pathError(path, 'ENAMETOOLONG', `host name is ${text.length} bytes, longer than ${MAX_HOST_NAME}`);
  }
  for (const label of text.split('.')) {
    if (label === '') throw pathError(path, 'EINVAL', `host '${text}' has an empty label`);
    if (label.length > MAX_HOST_LABEL) {
      throw pathError(path, 'ENAMETOOLONG', `host label '${label}' is ${label.length} bytes, longer than ${MAX_HOST_LABEL}`);
    }
  }
  return text.toLowerCase();
}

function checkIPv4(path: string, text: string): string {
  const octets = text.split('.');
  if (octets.length !== 4 || octets.includes('')) {
    throw pathError(path, 'EINVAL', `host '${text}' is not a dotted IPv4 address n.n.n.n`);
  }
  for (const octet of octets) {
    // inet_aton reads a leading zero as octal: refuse rather than guess which was meant.
    if (octet.length > 1 && octet.startsWith('0')) {
      throw pathError(path, 'EINVAL', `IPv4 address '${text}' has an octet with a leading zero: '${octet}'`);
    }
    if (octet.length > 3 || Number(octet) > 255) {
      throw pathError(path, 'EINVAL', `IPv4 address '${text}' has an octet out of range 0..255: '${octet}'`);
    }
  }
  return text;
}

function canonicalIPv6(path: string, text: string): string {
  const inner = text.endsWith(']') ? text.slice(1, -1) : null;
  const percent = inner === null ? -1 : inner.indexOf('%');
  const address = percent < 0 ? inner : inner!.slice(0, percent);
  const zone = percent < 0 ? null : inner!.slice(percent + 1);
  if (address === null || !isIPv6(address) || (zone !== null && !ZONE.test(zone))) {
    throw pathError(path, 'EINVAL', `host '${text}' is not an IPv6 address in brackets like [::1]`);
  }
  // The URL parser writes each IPv6 address one way: lower-case hex, longest zero run as ::.
  const compressed = new URL(`http://[${address}]/`).hostname;
  return zone === null ? compressed : `${compressed.slice(0, -1)}%${zone}]`;
}
