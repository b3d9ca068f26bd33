// The namespace on disk: libcs's directory names, modes, safety rules and locks.
import { chownSync, chmodSync, lstatSync, mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as cs from '../src';
import { createMountDir, lock, lockSync, mountDir, permName, pidAlive, recordPid, recordedPid, hostDirName } from '../src/namespace';
import { parsePath } from '../src/path';
import { freshRoot, isRoot, testIf, removeRoot, runFixture, secondUser } from './helpers';

let root: string;
beforeEach(() => {
  root = freshRoot();
});
afterEach(() => removeRoot(root));

test.each([
  [null, null, null, [], '--'],
  [null, 0, null, [], '-0-'],
  [null, null, 0, [], '--0'],
  [null, null, null, ['xyz'], '---xyz'],
  [null, null, null, ['bar', 'baz'], '---bar-baz'],
  [0, null, null, [], '0--'],
  [1000, 1000, 100, ['a'], '1000-1000--a'], // with user, libcs does not name the group
  [null, null, null, ['a', 'b=1'], '---a-b'], // a qualifier with a value counts by name
])('perm name: sid %p uid %p gid %p qualifiers %p -> %s', (sid, uid, gid, quals, want) => {
  expect(permName(sid, uid, gid, quals as string[])).toBe(want);
});

test.each([
  ['/dev/fdp/local/db', 7, '7--'],
  ['/dev/fdp/local/db/trust=4242', 7, '4242--'],
  ['/dev/fdp/local/db/trust', 7, '--'],
  ['/dev/fdp/local/db/trust=0/user=0/group=0', null, '0-0-'],
])('the sid of %s with a .svc owned by %p: %s', (path, svcOwner, perm) => {
  expect(mountDir(parsePath(path), svcOwner).dir).toBe(join(root, 'fdp', hostDirName(), 'db', perm));
});

test('a service lives in <root>/fdp/<host>/<service>/<perm>/ with the libcs file names', () => {
  const md = mountDir(parsePath('/dev/fdp/local/db/user=0/staging'), null);
  expect(md.dir).toBe(join(root, 'fdp', hostDirName(), 'db', '-0--staging'));
  expect([md.socket, md.pidLink, md.log, md.oldLog, md.lock].map((f) => f.slice(md.dir.length + 1))).toEqual(['S-cs.mnt', 'P-cs.mnt', 'L-cs.mnt', 'O-cs.mnt', 'X-cs.mnt']);
  expect(hostDirName().length).toBeLessThanOrEqual(14);
});

test('shared levels are created world-writable and sticky; user and group perm dirs are private', () => {
  const plain = mountDir(parsePath('/dev/fdp/local/modes'), null);
  const user = mountDir(parsePath('/dev/fdp/local/modes/user'), null);
  const group = mountDir(parsePath('/dev/fdp/local/modes/group'), null);
  for (const md of [plain, user, group]) createMountDir(md);
  const mode = (d: string) => lstatSync(d).mode & 0o7777;
  expect(mode(join(root, 'fdp'))).toBe(0o1777);
  expect(mode(join(plain.dir, '..'))).toBe(0o1777);
  expect(mode(plain.dir)).toBe(0o777 & ~process.umask());
  expect(mode(user.dir)).toBe(0o700);
  expect(mode(group.dir)).toBe(0o2770);
});

test('a symbolic link planted in the namespace is refused, not followed', async () => {
  const md = mountDir(parsePath('/dev/fdp/local/planted'), null);
  mkdirSync(join(md.dir, '..', '..'), { recursive: true });
  symlinkSync('/etc', join(md.dir, '..'));
  expect(() => cs.csopen('/dev/fdp/local/planted', cs.CS_OPEN_CREATE)).toThrow(expect.objectContaining({ code: 'EPERM', message: expect.stringMatching(/symbolic link/) }));
  await expect(cs.open('/dev/fdp/local/planted')).rejects.toMatchObject({ code: 'EPERM' });
});

testIf(isRoot, 'needs root to create second users')('a shared level another user made 0777 (libcs) is passed through, made sticky by root, refused to other creators', async () => {
  const [other, third] = [secondUser(), secondUser('cstest2')];
  const md = mountDir(parsePath('/dev/fdp/local/foreign'), null);
  const svc = join(md.dir, '..');
  mkdirSync(svc, { recursive: true });
  chownSync(svc, other, other);
  chmodSync(svc, 0o777);
  // a client passes through it: nobody serves yet, so ENOENT, not EPERM
  expect(() => cs.csopen('/dev/fdp/local/foreign')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  // a third user may not create below it: anyone could rename what it makes
  const refused = await runFixture('stream-server.js', ['/dev/fdp/local/foreign', 'idle'], { asUser: third });
  expect(refused.stdout).toMatch(new RegExp(`^error EPERM .*owned by uid ${other} and writable by everyone without the sticky bit`));
  // root makes it sticky first, as the levels cs makes are
  const fd = cs.csopen('/dev/fdp/local/foreign', cs.CS_OPEN_CREATE);
  expect([lstatSync(svc).uid, lstatSync(svc).mode & 0o7777]).toEqual([other, 0o1777]);
  cs.csclose(fd);
});

test('P-cs.mnt records the server pid as a /proc link', () => {
  const md = mountDir(parsePath('/dev/fdp/local/pid'), null);
  createMountDir(md);
  expect(recordedPid(md)).toBeNull();
  recordPid(md, process.pid);
  expect(readlinkSync(md.pidLink)).toBe(`/proc/${process.pid}`);
  expect(recordedPid(md)).toBe(process.pid);
  expect(pidAlive(process.pid)).toBe(true);
  expect(pidAlive(2 ** 22 + 1)).toBe(false); // above pid_max's ceiling: never a live pid
});

test('the X-cs.mnt lock makes a second taker wait until the first releases it', async () => {
  const md = mountDir(parsePath('/dev/fdp/local/locked'), null);
  createMountDir(md);
  const first = lockSync(md);
  let got = false;
  const second = lock(md).then((l) => {
    got = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 50));
  expect(got).toBe(false);
  first.release();
  (await second).release();
  expect(got).toBe(true);
});
