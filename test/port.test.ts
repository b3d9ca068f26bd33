// Service name -> port: numbers, the services file, and the hash every machine agrees on.
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csport, hashPort, lookupServicesFile } from '../src/port';

/** SPEC 2 written independently, in exact BigInt arithmetic. */
function referenceHash(name: string): number {
  let h = 0n;
  for (const c of new TextEncoder().encode(name)) h = (h * 0x63c63cd9n + 0x9c39c33dn + BigInt(c)) % 2n ** 32n;
  return 5001 + Number(h % 60535n);
}

let dir: string;
let services: string;
let empty: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cs-port-'));
  services = join(dir, 'services');
  empty = join(dir, 'empty');
  writeFileSync(empty, '');
  writeFileSync(services, [
    '# Network services, test copy',
    'echo            7/tcp',
    'echo            7/udp',
    'myservice       4242/tcp   mysvc alias2   # trailing comment',
    'onlyudp         4343/udp',
    '9pfs            564/tcp',
    'dup             1000/tcp',
    'dup             2000/tcp',
    '# commented     5555/tcp',
    'badport         notaport/tcp',
    'zero            0/tcp',
    'huge            70000/tcp',
    'crlf            6000/tcp\r',
    '',
  ].join('\n'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hashPort', () => {
  test.each([
    ['lookupd', 28629],
    ['tst', 7950],
    ['a', 52432],
    ['zz-top', 43717],
  ])('the SPEC vector %s hashes to %d', (name, port) => {
    expect(hashPort(name)).toBe(port);
  });

  test('hashes the UTF-8 bytes, not UTF-16 code units', () => {
    expect(hashPort('caf\u00e9')).toBe(referenceHash('caf\u00e9'));
    expect(hashPort('\u{1f600}')).toBe(referenceHash('\u{1f600}'));
  });

  const names = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ minLength: 50, maxLength: 200 }));

  test('is always an integer in 5001..65535', () => {
    fc.assert(fc.property(names, (name) => {
      const port = hashPort(name);
      expect(Number.isInteger(port)).toBe(true);
      expect(port).toBeGreaterThanOrEqual(5001);
      expect(port).toBeLessThanOrEqual(65535);
    }), { numRuns: 2000 });
  });

  test('is stable: the same name twice gives the same port', () => {
    fc.assert(fc.property(names, (name) => hashPort(name) === hashPort(name)), { numRuns: 1000 });
  });

  test('equals an exact BigInt reference implementation', () => {
    fc.assert(fc.property(names, (name) => {
      expect(hashPort(name)).toBe(referenceHash(name));
    }), { numRuns: 3000 });
  });
});

describe('csport', () => {
  test.each([
    ['1', 1],
    ['80', 80],
    ['080', 80],
    ['65535', 65535],
  ])('the decimal number %s is port %d', (service, port) => {
    expect(csport('tcp', service, empty)).toBe(port);
  });

  test('every number 1..65535 is its own port', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 65535 }), (n) => csport('udp', String(n), empty) === n));
  });

  test.each<[string, string, string, RegExp]>([
    ['0', 'EINVAL', 'tcp', /port 0 is out of range 1\.\.65535/],
    ['65536', 'EINVAL', 'tcp', /port 65536 is out of range 1\.\.65535/],
    ['99999999999999999999', 'EINVAL', 'tcp', /port 99999999999999999999 is out of range/],
    ['12ab', 'EINVAL', 'tcp', /'12ab' is neither a port number 1\.\.65535 nor a tcp service/],
    ['+80', 'EINVAL', 'udp', /'\+80' is neither a port number/],
    ['', 'EINVAL', 'tcp', /empty service name/],
    ['inet.nosuch', 'ENOENT', 'tcp', /unknown service inet\.nosuch for tcp/],
    ['inet.onlyudp', 'ENOENT', 'tcp', /unknown service inet\.onlyudp for tcp/],
  ])('%p fails with %s', (service, code, type, message) => {
    expect(() => csport(type as 'tcp' | 'udp', service, services)).toThrow(
      expect.objectContaining({ code, syscall: 'csport', message: expect.stringMatching(message) }),
    );
  });

  test('a name in the services file is its port, for that protocol only', () => {
    expect(csport('tcp', 'myservice', services)).toBe(4242);
    expect(csport('udp', 'onlyudp', services)).toBe(4343);
    expect(csport('tcp', 'onlyudp', services)).toBe(hashPort('onlyudp'));
    expect(csport('udp', 'myservice', services)).toBe(hashPort('myservice'));
  });

  test('aliases count as names', () => {
    expect(csport('tcp', 'mysvc', services)).toBe(4242);
    expect(csport('tcp', 'alias2', services)).toBe(4242);
  });

  test('inet.<name> must be in the services file', () => {
    expect(csport('tcp', 'inet.myservice', services)).toBe(4242);
    expect(csport('udp', 'inet.echo', services)).toBe(7);
  });

  test('a listed name that starts with a digit is its port', () => {
    expect(csport('tcp', '9pfs', services)).toBe(564);
  });

  test('an unlisted name is hashed', () => {
    expect(csport('tcp', 'lookupd', services)).toBe(28629);
    expect(csport('udp', 'zz-top', empty)).toBe(43717);
  });

  test('a missing services file lists nothing: names are hashed', () => {
    expect(csport('tcp', 'echo', join(dir, 'missing'))).toBe(hashPort('echo'));
  });
});

describe('lookupServicesFile', () => {
  test('lists names and aliases per protocol, skipping comments and malformed lines', () => {
    const map = lookupServicesFile(services);
    expect([...map.entries()].sort()).toEqual([
      ['9pfs/tcp', 564],
      ['alias2/tcp', 4242],
      ['crlf/tcp', 6000],
      ['dup/tcp', 1000],
      ['echo/tcp', 7],
      ['echo/udp', 7],
      ['myservice/tcp', 4242],
      ['mysvc/tcp', 4242],
      ['onlyudp/udp', 4343],
    ]);
  });

  test('the first of two entries for a name wins, as in getservbyname', () => {
    expect(lookupServicesFile(services).get('dup/tcp')).toBe(1000);
  });

  test('a missing file is an empty map', () => {
    expect(lookupServicesFile(join(dir, 'missing')).size).toBe(0);
  });

  test('is cached until the file changes', () => {
    const file = join(dir, 'changing');
    writeFileSync(file, 'one 1111/tcp\n');
    const first = lookupServicesFile(file);
    expect(lookupServicesFile(file)).toBe(first);
    writeFileSync(file, 'one 1111/tcp\ntwo 2222/tcp\n');
    const second = lookupServicesFile(file);
    expect(second).not.toBe(first);
    expect(second.get('two/tcp')).toBe(2222);
    rmSync(file);
    expect(lookupServicesFile(file).size).toBe(0);
  });

  test('reads /etc/services by default', () => {
    expect(lookupServicesFile()).toBeInstanceOf(Map);
  });
});
