// csattr (cs.3): what cs knows about a host, as libcs's `name=value` attributes:
// its name and address from the resolver, and its status as ssd last noted it.
import { type CsError } from '../sys';
import { csaddr, csname, csntoa } from './routines';
import { csfull } from './reverse';
import { csstat } from './stat';

function attributes(host: string): Map<string, string> {
  const name = host === 'local' ? csname() : host;
  const addr = csaddr(name, -1);
  const attrs = new Map<string, string>();
  let full = name;
  try {
    full = csfull(addr);
  } catch {
    // an address without a reverse name keeps the name it was asked by
  }
  attrs.set('name', full).set('addr', csntoa(addr));
  try {
    for (const [k, v] of Object.entries(csstat(name))) attrs.set(k, String(v));
  } catch (e) {
    if ((e as CsError).code !== 'ENOENT') throw e;
  }
  return attrs;
}

/**
 * Attribute `attr` of `host` (`local`: this host): `name` (full name), `addr`
 * (n.n.n.n), and once its status was noted `up`, `load`, `idle`, `users`, `pctusr`,
 * `pctsys`; undefined for an attribute it does not have. Without `attr` (or `-`):
 * all of them as one `name=value ...` string. csaddr's errors (ENOTFOUND) for an
 * unknown host.
 */
export function csattr(host: string, attr?: string): string | undefined {
  const attrs = attributes(host);
  if (attr === undefined || attr === '' || attr === '-') return [...attrs].map(([k, v]) => `${k}=${v}`).join(' ');
  return attrs.get(attr);
}
