// The path grammar: which names are valid, their canonical text, and how bad ones fail.
import fc from 'fast-check';
import { CsPath, formatPath, MAX_SERVICE_NAME, parsePath } from '../src/path';

const noOptions = {
  user: null, group: null, trust: null,
  other: false, local: false, remote: false, share: false, slave: false, test: false, now: false,
};

describe('valid paths parse into their fields and canonical text', () => {
  const long63 = 'h'.repeat(63);
  const service64 = 's'.repeat(MAX_SERVICE_NAME);
  test.each<[string, string, Partial<CsPath>]>([
    ['/dev/tcp', '/dev/tcp', { proto: 'tcp', host: null, service: null, qualifiers: [], arg: null }],
    ['/dev/fdp/local', '/dev/fdp/local', { proto: 'fdp', host: 'local', service: null }],
    ['/dev/fdp/local/echo', '/dev/fdp/local/echo', { host: 'local', service: 'echo', options: noOptions }],
    ['/dev/tcp/127.0.0.1/28629', '/dev/tcp/127.0.0.1/28629', { host: '127.0.0.1', service: '28629' }],
    ['/dev/tcp/Example.COM/http', '/dev/tcp/example.com/http', { host: 'example.com' }],
    ['//dev//tcp/./local/echo/', '/dev/tcp/local/echo', { service: 'echo' }],
    ['/dev/udp/share/lookupd', '/dev/udp/share/lookupd', { proto: 'udp', host: 'share' }],
    ['/dev/tcp/[::1]/echo', '/dev/tcp/[::1]/echo', { host: '[::1]' }],
    ['/dev/tcp/[0:0:0:0:0:0:0:1]/echo', '/dev/tcp/[::1]/echo', { host: '[::1]' }],
    ['/dev/tcp/[FE80::1%eth0]/x', '/dev/tcp/[fe80::1%eth0]/x', { host: '[fe80::1%eth0]' }],
    ['/dev/fdp/local/db/user', '/dev/fdp/local/db/user', { options: { ...noOptions, user: '' } }],
    ['/dev/fdp/local/db/user=0', '/dev/fdp/local/db/user=0', { options: { ...noOptions, user: '0' } }],
    ['/dev/fdp/local/db/user=007', '/dev/fdp/local/db/user=7', { options: { ...noOptions, user: '7' } }],
    ['/dev/fdp/local/db/group=staff/user=alice', '/dev/fdp/local/db/user=alice/group=staff',
      { options: { ...noOptions, user: 'alice', group: 'staff' } }],
    ['/dev/fdp/local/db/now/test/other/slave/share/remote/local/trust=0',
      '/dev/fdp/local/db/trust=0/other/local/remote/share/slave/test/now',
      { options: { ...noOptions, trust: '0', other: true, local: true, remote: true, share: true, slave: true, test: true, now: true } }],
    ['/dev/fdp/local/db/staging', '/dev/fdp/local/db/staging', { qualifiers: ['staging'] }],
    ['/dev/fdp/local/db/bar/now/baz', '/dev/fdp/local/db/now/bar/baz', { qualifiers: ['bar', 'baz'] }],
    ['/dev/fdp/local/db/a/a', '/dev/fdp/local/db/a/a', { qualifiers: ['a', 'a'] }],
    ['/dev/fdp/local/db/foo=bar/now/b=', '/dev/fdp/local/db/now/foo=bar/b=', { qualifiers: ['foo=bar', 'b='] }],
    ['/dev/fdp/local/db/now/now', '/dev/fdp/local/db/now', { options: { ...noOptions, now: true } }],
    ['/dev/fdp/local/db/user/user', '/dev/fdp/local/db/user', { options: { ...noOptions, user: '' } }],
    ['/dev/fdp/local/echo/#hello', '/dev/fdp/local/echo/#hello', { arg: 'hello' }],
    ['/dev/fdp/local/echo/user/#a/b/../c//', '/dev/fdp/local/echo/user/#a/b/../c//', { arg: 'a/b/../c//' }],
    ['/dev/fdp/local/echo//#', '/dev/fdp/local/echo/#', { arg: '' }],
    ['/dev/udp/share/x/##', '/dev/udp/share/x/##', { arg: '#' }],
    ['/dev/tcp/local/a.b+c_d-e', '/dev/tcp/local/a.b+c_d-e', { service: 'a.b+c_d-e' }],
    ['/dev/tcp/local/.hidden', '/dev/tcp/local/.hidden', { service: '.hidden' }],
    [`/dev/tcp/local/${service64}`, `/dev/tcp/local/${service64}`, { service: service64 }],
    ['/dev/tcp/0.0.0.0/1', '/dev/tcp/0.0.0.0/1', { host: '0.0.0.0' }],
    ['/dev/tcp/255.255.255.255/65535', '/dev/tcp/255.255.255.255/65535', { host: '255.255.255.255' }],
    ['/dev/fdp/My_Host-1.lan/svc', '/dev/fdp/my_host-1.lan/svc', { host: 'my_host-1.lan' }],
    [`/dev/tcp/${long63}.net/x`, `/dev/tcp/${long63}.net/x`, { host: `${long63}.net` }],
    ['/dev/fdp/local/test', '/dev/fdp/local/test', { service: 'test', options: noOptions }],
    ['/dev/tcp/local/db/user=u.name-1', '/dev/tcp/local/db/user=u.name-1', { options: { ...noOptions, user: 'u.name-1' } }],
  ])('%s', (input, canonical, fields) => {
    const p = parsePath(input);
    expect(p.canonical).toBe(canonical);
    expect(p).toMatchObject(fields);
    expect(formatPath(p)).toBe(canonical);
  });
});

describe('invalid paths fail with a code and a message naming the bad part', () => {
  const host256 = `${'a'.repeat(63)}.`.repeat(4).slice(0, 256);
  test.each<[string, string, string, RegExp]>([
    ['empty', '', 'EINVAL', /empty path/],
    ['relative', 'dev/tcp/local/a', 'EINVAL', /not absolute/],
    ['unknown protocol', '/dev/xyz/local/a', 'EINVAL', /unknown protocol 'xyz'/],
    ['protocol is case-sensitive', '/dev/TCP/local/a', 'EINVAL', /unknown protocol 'TCP'/],
    ['dot-dot', '/dev/tcp/local/../a', 'EINVAL', /'\.\.' is not allowed/],
    ['65-byte service', `/dev/tcp/local/${'a'.repeat(65)}`, 'ENAMETOOLONG', /service name 'a{65}' is 65 bytes, longer than 64/],
    ['NUL byte', '/dev/tcp/lo\0cal/a', 'EINVAL', /NUL byte at byte offset 11/],
    ['bad IPv4 octet', '/dev/tcp/1.2.3.256/a', 'EINVAL', /octet out of range 0\.\.255: '256'/],
    ['IPv4 with three octets', '/dev/tcp/1.2.3/a', 'EINVAL', /'1\.2\.3' is not a dotted IPv4/],
    ['all-digit host', '/dev/tcp/12345/a', 'EINVAL', /'12345' is not a dotted IPv4/],
    ['IPv4 leading zero', '/dev/tcp/01.2.3.4/a', 'EINVAL', /leading zero: '01'/],
    ['bad IPv6', '/dev/tcp/[::g]/a', 'EINVAL', /'\[::g\]' is not an IPv6 address/],
    ['unclosed IPv6', '/dev/tcp/[::1/a', 'EINVAL', /'\[::1' is not an IPv6 address/],
    ['empty user value', '/dev/fdp/local/db/user=', 'EINVAL', /option 'user=' has an empty value/],
    ['option before service', '/dev/fdp/local/user=0/db', 'EINVAL', /option 'user=0' comes before the service/],
    ['argument before service', '/dev/fdp/local/#x', 'EINVAL', /'#x' comes before the service/],
    ['root alone', '/', 'EINVAL', /starts with \/dev/],
    ['not under /dev', '/etc/passwd', 'EINVAL', /first component 'etc' is not 'dev'/],
    ['no protocol', '/dev', 'EINVAL', /missing protocol/],
    ['space in service', '/dev/tcp/local/a b', 'EINVAL', /service name 'a b' has a character that is not allowed: ' '/],
    ['tab in service', '/dev/tcp/local/a\tb', 'EINVAL', /not allowed: U\+0009/],
    ['non-ASCII service', '/dev/tcp/local/caf\u00e9', 'EINVAL', /not allowed: U\+00E9/],
    ['dots-only service', '/dev/tcp/local/...', 'EINVAL', /service name '\.\.\.' is only dots/],
    ['space in host', '/dev/tcp/ho st/a', 'EINVAL', /host 'ho st' has a character that is not allowed: ' '/],
    ['empty host label', '/dev/tcp/a..b/x', 'EINVAL', /host 'a\.\.b' has an empty label/],
    ['256-byte host', `/dev/tcp/${host256}/x`, 'ENAMETOOLONG', /host name is 256 bytes, longer than 255/],
    ['64-byte host label', `/dev/tcp/${'b'.repeat(64)}.net/x`, 'ENAMETOOLONG', /host label 'b{64}' is 64 bytes/],
    ['qualifier without a name', '/dev/fdp/local/db/=bar', 'EINVAL', /option '=bar' has no name/],
    ['bad qualifier value', '/dev/fdp/local/db/foo=b%r', 'EINVAL', /value of qualifier 'foo' 'b%r' has a character that is not allowed: '%'/],
    ['bad user value', '/dev/fdp/local/db/user=a b', 'EINVAL', /option 'user=a b' needs a number or a name/],
    ['conflicting user', '/dev/fdp/local/db/user=1/user=2', 'EINVAL', /option 'user=2' conflicts with 'user=1'/],
    ['uid out of range', '/dev/fdp/local/db/group=4294967295', 'EINVAL', /option 'group=4294967295' is out of range/],
    ['65-byte qualifier', `/dev/fdp/local/db/${'q'.repeat(65)}`, 'ENAMETOOLONG', /qualifier 'q{65}' is 65 bytes/],
    ['bad qualifier', '/dev/fdp/local/db/a%b', 'EINVAL', /qualifier 'a%b' has a character that is not allowed: '%'/],
    ['4096-byte path', `/dev/fdp/local/db/#${'x'.repeat(4096 - 19)}`, 'ENAMETOOLONG', /path is 4096 bytes, longer than 4095/],
  ])('%s', (_name, input, code, message) => {
    let caught: unknown;
    try {
      parsePath(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).toMatchObject({ code, syscall: 'csopen', path: input });
    expect((caught as Error).message).toMatch(message);
  });

  test('a message shows control characters escaped, while err.path keeps them', () => {
    expect(() => parsePath('/dev/tcp/lo\0cal/a')).toThrow(/csopen '\/dev\/tcp\/lo\\x00cal\/a'/);
  });

  test.each([[5], [null], [undefined], [Buffer.from('/dev/tcp')]])('a non-string (%p) is a TypeError', (value) => {
    expect(() => parsePath(value as unknown as string)).toThrow(TypeError);
    expect(() => parsePath(value as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('properties', () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_.+-]{1,64}$/).filter((s) => !/^\.+$/.test(s));
  const label = fc.stringMatching(/^[A-Za-z_-][A-Za-z0-9_-]{0,20}$/);
  const host = fc.oneof(
    fc.constantFrom('local', 'share', 'LOCAL'),
    fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.')),
    fc.ipV4(),
    fc.ipV6().map((a) => `[${a}]`),
  );
  const idValue = fc.oneof(fc.constant(''), fc.nat().map((n) => `=${n}`), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,10}$/).map((v) => `=${v}`));
  const words = ['user', 'group', 'trust', 'other', 'local', 'remote', 'share', 'slave', 'test', 'now'];
  // Every kind of option at most once (a repeated id option with another value is a conflict), in any order.
  const options = fc
    .tuple(
      fc.tuple(fc.option(idValue), fc.option(idValue), fc.option(idValue)),
      fc.subarray(words.slice(3)),
      fc.array(name.filter((q) => !words.includes(q)), { maxLength: 3 }),
    )
    .chain(([ids, flags, qualifiers]) => {
      const all = [
        ...ids.flatMap((v, i) => (v === null ? [] : [`${words[i]}${v}`])),
        ...flags,
        ...qualifiers,
      ];
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
    });
  const arg = fc.option(fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')), { nil: undefined });
  const noise = fc.constantFrom('/', '//', '/./');
  const validPath = fc
    .tuple(fc.constantFrom('fdp', 'tcp', 'udp'), host, name, options, arg, noise)
    .map(([proto, h, s, opts, a, sep]) =>
      `${sep}dev/${proto}${sep}${h}/${s}${opts.map((o) => `${sep}${o}`).join('')}${a === undefined ? sep : `/#${a}`}`);

  const isParseError = (err: unknown): boolean =>
    err instanceof Error && ['EINVAL', 'ENAMETOOLONG'].includes((err as { code?: string }).code ?? '');

  /** The canonical text of a parse is a fixed point of parse and format. */
  const expectFixedPoint = (p: CsPath): void => {
    const again = parsePath(p.canonical);
    expect(again).toEqual(p);
    expect(formatPath(again)).toBe(p.canonical);
  };

  test('the canonical text of a generated valid path is a fixed point', () => {
    fc.assert(fc.property(validPath, (path) => expectFixedPoint(parsePath(path))), { numRuns: 2000 });
  });

  test('arbitrary strings either parse to a fixed point or fail with a parse error', () => {
    const piece = fc.oneof(
      fc.constantFrom('dev', 'fdp', 'tcp', 'udp', 'local', 'user', 'user=', 'user=1', '#', '.', '..', '', '[::1]', '1.2.3.4'),
      fc.string({ maxLength: 8 }),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    const pathLike = fc.array(piece, { maxLength: 8 }).map((ps) => `/${ps.join('/')}`);
    const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }), pathLike);
    fc.assert(
      fc.property(anyString, (s) => {
        let p: CsPath;
        try {
          p = parsePath(s);
        } catch (err) {
          expect(isParseError(err)).toBe(true);
          return;
        }
        expectFixedPoint(p);
      }),
      { numRuns: 5000 },
    );
  });
});
