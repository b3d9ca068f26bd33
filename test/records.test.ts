// Which id record goes on the wire. Two cs processes pass records in the cs form (no
// auth descriptor) once each knows the other speaks cs: the client from a cs server's
// greeting, the server from the client's first record. A peer that did not say so, as
// every libcs peer, gets exactly the libcs record, auth descriptor first. The other end
// here is raw sockets, so the bytes and descriptors are the kernel's, not cs's reading of them.
import { fstatSync, readFileSync } from 'node:fs';
import * as cs from '../src';
import * as sys from '../src/sys';
import { resolveService } from '../src/launch/service';
import { CS_GREETING } from '../src/stream/handshake';
import { freshRootEachTest, openFds, startFixture } from './helpers';

let seq = 0;
const name = (what: string): `/dev/fdp/${string}` => `/dev/fdp/local/${what}${process.pid}x${seq++}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CS_HID = 0x6373n;

freshRootEachTest();

/** Wait (at most 5 s, without blocking the event loop) until `fd` is readable. */
async function readable(fd: number): Promise<void> {
  for (const end = Date.now() + 5000; Date.now() < end; await sleep(10)) {
    if (cs.cspoll([{ fd, events: 'r' }], 0).length > 0) return;
  }
  throw new Error(`fd ${fd} not readable within 5 s`);
}

interface Raw {
  hid: bigint;
  pid: number;
  uid: number;
  fds: number[];
}

/** One message as the kernel delivers it: the record's fields and every descriptor that came. */
async function rawRecord(fd: number): Promise<Raw> {
  await readable(fd);
  const buf = Buffer.alloc(32);
  const r = sys.recvFds(fd, buf, 8);
  expect(r.n).toBe(32);
  return { hid: buf.readBigUInt64LE(0), pid: Number(buf.readBigUInt64LE(8)), uid: Number(buf.readBigUInt64LE(16)), fds: r.fds };
}

/** A libcs record as libcs checks it: hid 0, and first an auth file of the sender's uid. */
function expectLibcs(r: Raw, payload: number): void {
  expect(r.hid).toBe(0n);
  expect(r.fds).toHaveLength(1 + payload);
  const st = fstatSync(r.fds[0]);
  expect(st.isFile() && st.uid === process.geteuid!()).toBe(true);
}

function memfd(text: string): number {
  const fd = sys.memfd('m');
  sys.writeRaw(fd, Buffer.from(text));
  return fd;
}

const text = (fd: number) => readFileSync(`/proc/self/fd/${fd}`, 'utf8');

/** Descriptors open now that were not in `before`, once transient ones (a child's stdio) are gone (at most 5 s). */
async function newFds(before: string[]): Promise<string[]> {
  let added = openFds().filter((f) => !before.includes(f));
  for (const end = Date.now() + 5000; added.length > 0 && Date.now() < end; added = openFds().filter((f) => !before.includes(f))) await sleep(50);
  return added;
}

describe.each([
  ['a cs server', CS_GREETING, true],
  ['a server that greets as libcs does (0)', 0, false],
])('a client greeted by %s', (_who, greeting, csForm) => {
  /** Accept the one client on listening `lfd` and greet it; the accepted fd. */
  async function acceptAndGreet(lfd: number): Promise<number> {
    await readable(lfd);
    const fd = sys.accept(lfd);
    sys.writeRaw(fd, Buffer.from([greeting]));
    return fd;
  }

  test(`sends ${csForm ? 'cs records with its descriptors only' : 'libcs records, auth descriptor first'}: sync csopen and cssend (another process)`, async () => {
    const path = name('wsync');
    const lfd = cs.csopen(path, cs.CS_OPEN_CREATE);
    const before = openFds();
    const sender = startFixture('conn-sender.js', [path, JSON.stringify([{ fds: 1 }, { fds: 0 }])]);
    const fd = await acceptAndGreet(lfd);
    const pid = Number((await sender).line.split(' ')[1]);
    const hello = await rawRecord(fd);
    if (csForm) expect(hello).toMatchObject({ hid: CS_HID, pid, fds: [] });
    else expectLibcs(hello, 0);
    const one = await rawRecord(fd);
    if (csForm) expect(one).toMatchObject({ hid: CS_HID, pid, uid: process.geteuid!() });
    else expectLibcs(one, 1);
    expect(text(one.fds[one.fds.length - 1])).toBe('fd-0');
    // no descriptors to mark it among the bytes: always the libcs form
    const none = await rawRecord(fd);
    expectLibcs(none, 0);
    sys.closeAll([...hello.fds, ...one.fds, ...none.fds, fd]);
    cs.csclose(lfd);
    expect(await newFds(before)).toEqual([]);
  });

  test(`sends ${csForm ? 'cs records with its descriptors only' : 'libcs records, auth descriptor first'}: async open and sendFds`, async () => {
    const path = name('wasync');
    const lfd = cs.csopen(path, cs.CS_OPEN_CREATE);
    const before = openFds();
    const opening = cs.open(path);
    const fd = await acceptAndGreet(lfd);
    const conn = await opening;
    const hello = await rawRecord(fd);
    if (csForm) expect(hello).toMatchObject({ hid: CS_HID, pid: process.pid, fds: [] });
    else expectLibcs(hello, 0);
    const m = memfd('async');
    await conn.sendFds([m]);
    sys.close(m);
    const one = await rawRecord(fd);
    if (csForm) expect(one).toMatchObject({ hid: CS_HID, pid: process.pid });
    else expectLibcs(one, 1);
    expect(one.fds).toHaveLength(csForm ? 1 : 2);
    expect(text(one.fds[one.fds.length - 1])).toBe('async');
    sys.closeAll([...hello.fds, ...one.fds, fd]);
    conn.destroy();
    cs.csclose(lfd);
    expect(await newFds(before)).toEqual([]);
  });
});

describe.each([
  ['in the cs form', CS_HID, true],
  ['in the libcs form', 0n, false],
])('a server whose client announced itself %s', (_how, hid, csForm) => {
  test(`sends it ${csForm ? 'cs' : 'libcs'} records`, async () => {
    const path = name('wserver');
    const before = openFds();
    const listener = await cs.listen(path);
    const fd = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
    sys.passCred(fd);
    sys.connect(fd, sys.unixAddr(resolveService(path).md.socket));
    const accepted = listener.accept();
    await readable(fd);
    const greeting = Buffer.alloc(1);
    expect(sys.readRaw(fd, greeting)).toBe(1);
    expect(greeting[0]).toBe(CS_GREETING);
    const rec = Buffer.alloc(32);
    rec.writeBigUInt64LE(hid, 0);
    rec.writeBigUInt64LE(BigInt(process.pid), 8);
    rec.writeBigUInt64LE(BigInt(process.geteuid!()), 16);
    rec.writeBigUInt64LE(BigInt(process.getegid!()), 24);
    const auth = memfd('auth');
    expect(sys.sendFds(fd, rec, csForm ? [] : [auth])).toBe(32);
    sys.close(auth);
    const conn = (await accepted)!;
    const m = memfd('from the server');
    await conn.sendFds([m]);
    sys.close(m);
    const got = await rawRecord(fd);
    if (csForm) expect(got).toMatchObject({ hid: CS_HID, pid: process.pid, uid: process.geteuid!() });
    else expectLibcs(got, 1);
    expect(got.fds).toHaveLength(csForm ? 1 : 2);
    expect(text(got.fds[got.fds.length - 1])).toBe('from the server');
    sys.closeAll([...got.fds, fd]);
    conn.destroy();
    listener.close();
    expect(await newFds(before)).toEqual([]);
  });
});
