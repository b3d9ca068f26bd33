// Sealed payloads between processes: 64 MiB out and back through sealed memfds (by
// hand and with sendSealed/recvSealed), a receiver that drops one unread,
// a sender that tries to change one after sending (the seals refuse), receivers that
// refuse what is unsealed or too large, payloads mapped instead of read, and no
// descriptor left behind in any of them.
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, readdirSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { freshRootEachTest, openFds, startFixture } from './helpers';

let seq = 0;
const name = (what: string): `/dev/fdp/${string}` => `/dev/fdp/local/${what}${process.pid}x${seq++}`;
const MiB = 1 << 20;

freshRootEachTest();

/** 64 MiB that differ from block to block, so a lost or moved block shows. */
function payload(): Buffer {
  const b = Buffer.allocUnsafe(64 * MiB);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE(i, i);
  return b;
}

test('64 MiB goes to another process and back in sealed memfds, leaving no descriptor', async () => {
  const path = name('echo');
  await startFixture('sealed-peer.js', [path, 'echo']);
  const before = openFds();
  const conn = await cs.open(path);
  const data = payload();
  const fd = cs.sealBytes(data);
  await conn.sendFds([fd]);
  closeSync(fd);
  const { fds } = await conn.recvFds({ max: 1 });
  expect(cs.readSealed(fds[0], 64 * MiB).equals(data)).toBe(true);
  closeSync(fds[0]);
  conn.destroy();
  expect(openFds()).toEqual(before);
}, 60000);

test('a receiver that closes a sealed memfd unread leaves nothing open on either side', async () => {
  const path = name('drop');
  const peer = await startFixture('sealed-peer.js', [path, 'drop']);
  const before = openFds();
  const conn = await cs.open(path);
  const fd = cs.sealBytes(payload());
  await conn.sendFds([fd]);
  closeSync(fd);
  await once(conn, 'data'); // the peer has closed it
  conn.destroy();
  expect(openFds()).toEqual(before);
  const dir = `/proc/${peer.child.pid}/fd`;
  expect(readdirSync(dir).map((f) => readlinkSync(`${dir}/${f}`)).filter((l) => l.includes('cs-sealed'))).toEqual([]);
}, 60000);

test('a sealed memfd cannot be written, truncated or grown by its sender after sending', () => {
  const fd = cs.sealBytes(Buffer.from('final'));
  expect(() => writeSync(fd, 'X', 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
  expect(() => ftruncateSync(fd, 1)).toThrow(expect.objectContaining({ code: 'EPERM' }));
  expect(() => ftruncateSync(fd, 100)).toThrow(expect.objectContaining({ code: 'EPERM' }));
  expect(cs.readSealed(fd, 5).toString()).toBe('final');
  closeSync(fd);
});

test.each([['readSealed', cs.readSealed], ['mapSealed', cs.mapSealed]] as const)('%s refuses an unsealed memfd (EPERM) and one over the ceiling (EMSGSIZE)', (syscall, take) => {
  const open = sys.memfd('unsealed');
  writeSync(open, 'changeable');
  expect(() => take(open, 100)).toThrow(expect.objectContaining({ code: 'EPERM', syscall }));
  closeSync(open);
  const big = cs.sealBytes(Buffer.alloc(4097));
  expect(() => take(big, 4096)).toThrow(expect.objectContaining({ code: 'EMSGSIZE' }));
  closeSync(big);
});

/** 64 MiB sent with sendSealed to a fresh peer that echoes it: the connection, what was sent, and the descriptors open before it. */
async function sentToEcho(what: string): Promise<{ conn: cs.Connection; data: Buffer; before: string[] }> {
  const path = name(what);
  await startFixture('sealed-peer.js', [path, 'echo']);
  const before = openFds();
  const conn = await cs.open(path);
  const data = payload();
  await cs.sendSealed(conn, data);
  return { conn, data, before };
}

test('sendSealed and recvSealed: one call each way, 64 MiB there and back, nothing left open', async () => {
  const { conn, data, before } = await sentToEcho('one-call');
  expect((await cs.recvSealed(conn)).equals(data)).toBe(true);
  conn.destroy();
  expect(openFds()).toEqual(before);
}, 60000);

test('recvSealed refuses an unsealed memfd (EPERM) and one over its max (EMSGSIZE), closing each', async () => {
  const path = name('refuse');
  await startFixture('sealed-peer.js', [path, 'return']);
  const before = openFds();
  const conn = await cs.open(path);
  await cs.sendSealed(conn, Buffer.alloc(4097, 1));
  await expect(cs.recvSealed(conn, { max: 4096 })).rejects.toMatchObject({ code: 'EMSGSIZE', syscall: 'recvSealed', path: conn.path });
  const open = sys.memfd('unsealed');
  writeSync(open, 'changeable');
  await conn.sendFds([open]);
  closeSync(open);
  await expect(cs.recvSealed(conn)).rejects.toMatchObject({ code: 'EPERM', syscall: 'recvSealed' });
  conn.destroy();
  expect(openFds()).toEqual(before);
}, 60000);

/** The lines of /proc/self/maps that map a sealed payload's memfd. */
const sealedMappings = (): string[] => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('memfd:cs-sealed'));

test('recvSealed with map: 64 MiB from another process is mapped, not copied; writes stay private; nothing left open', async () => {
  const { conn, data, before } = await sentToEcho('map');
  const got = await cs.recvSealed(conn, { map: true });
  expect(got.equals(data)).toBe(true);
  expect(sealedMappings()).toHaveLength(1); // the bytes are the memfd's pages, its fd already closed
  got[0] ^= 0xff;
  expect(got.equals(data)).toBe(false); // a private copy of that page only
  conn.destroy();
  expect(openFds()).toEqual(before);
}, 60000);

test('a mapping of a sealed payload ends when its Buffer is collected', () => {
  const script = `
    const { readFileSync, closeSync } = require('node:fs');
    const cs = require(${JSON.stringify(join(__dirname, '..', 'dist', 'src'))});
    const count = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('memfd:cs-sealed')).length;
    const fd = cs.sealBytes(Buffer.alloc(1 << 20, 7));
    let b = cs.mapSealed(fd, 1 << 20); closeSync(fd);
    const mapped = count() + (b[5] === 7 ? 0 : 100);
    b = null;
    setTimeout(() => { globalThis.gc(); setTimeout(() => { globalThis.gc(); console.log(JSON.stringify([mapped, count()])); }, 50); }, 50);`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', env: process.env, timeout: 20000 });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual([1, 0]);
});
