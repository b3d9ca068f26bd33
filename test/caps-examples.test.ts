// The examples in examples/ run and do what they say (CAPS at both API levels,
// lookupd, and descriptor passing with the core stream API).
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { freshRoot, killFixtures, removeRoot, runFixture } from './helpers';

let root: string;
beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  await killFixtures();
  // a lookupd the example started
  for (const dir of findPidRecords(join(root, 'fdp'))) {
    try {
      process.kill(Number(readlinkSync(dir).split('/')[2]), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  removeRoot(root);
});

function findPidRecords(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? findPidRecords(join(dir, e.name)) : e.name === 'P-cs.mnt' ? [join(dir, e.name)] : []));
}

const example = (name: string, args: string[] = []) => runFixture(join('..', '..', 'examples', name), args, { ms: 20000 });

test('caps-c-api.js: REQUEST, REPLY and DISPOSE, in that order', async () => {
  const r = await example('caps-c-api.js');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  const lines = r.stdout.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('client: reply'))).toEqual(['client: reply to 1: "HELLO"', 'client: reply to 2: "CAPS OVER CS"']);
  expect(lines.filter((l) => l.includes('DISPOSE'))).toHaveLength(2);
  expect(lines.findIndex((l) => l.includes('request 1'))).toBeLessThan(lines.findIndex((l) => l.includes('reply to 1')));
});

test('caps-async.js: calls, a descriptor in a call, and an abort', async () => {
  const r = await example('caps-async.js');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toContain('text: {"lines":2,"words":4}');
  expect(r.stdout).toMatch(/this file: \{"lines":\d+,"words":\d+\}/);
});

test('fd-pass.js: the server writes into the nameless file the client sent it', async () => {
  const r = await example('fd-pass.js');
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^hello pid \d+ \(uid \d+\), this is the server writing into your nameless file\n$/);
});

test('lookupd-client.js: asks lookupd, which cs starts on demand', async () => {
  const r = await example('lookupd-client.js', ['getpwuid', '0']);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(JSON.parse(r.stdout)).toMatchObject({ name: 'root', uid: 0, gid: 0 });
});
