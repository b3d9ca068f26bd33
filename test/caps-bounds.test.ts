// CAPS memory bounds between real processes: clients that flood a service and never
// read its answers cannot grow it past its documented ceiling, and clients that do
// read are answered promptly all the while; a service that answers requests without
// reading them cannot make a client queue them without end.
import { readFileSync } from 'node:fs';
import * as cs from '../src';
import { Agent } from './fixtures/caps-driver';
import { freshRoot, killFixtures, removeRoot, startFixture } from './helpers';

let root: string;
let seq = 0;
const unique = (what: string) => `${what}_${process.pid}_${seq++}`;

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  await killFixtures();
  removeRoot(root);
});

const MiB = 1024 * 1024;

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('a service whose clients do not read', () => {
  test('31 MiB of ABORT frames and 16 clients x 128 x 128 KiB unread requests: RSS stays under the ceiling, readers are answered', async () => {
    const name = unique('flood');
    const svc = await startFixture('caps-service.js', [name]);
    const { pid, path } = JSON.parse(svc.line) as { pid: number; path: string };
    // a client that reads: every call must be answered within 5 s while the others flood
    const reader = await cs.caps.client(name, { uid: process.geteuid!() });
    try {
      const ping = async () => {
        const t0 = Date.now();
        const r = await reader.call(Buffer.from('echo:ping'), [], { signal: AbortSignal.timeout(5000) });
        expect(r.data.toString()).toBe('ping');
        return Date.now() - t0;
      };
      for (let i = 0; i < 20; i++) await ping();
      const before = rss(pid);

      // seventeen processes starting at once on a busy machine take their time
      const floods = [startFixture('caps-flood.js', [path, 'abort', String(31 * MiB)], { ms: 30000 })];
      for (let i = 0; i < 16; i++) floods.push(startFixture('caps-flood.js', [path, 'requests', '128'], { ms: 30000 }));
      const flooders = await Promise.all(floods);

      let peak = before;
      let slowest = 0;
      const until = Date.now() + 6000;
      while (Date.now() < until) {
        slowest = Math.max(slowest, await ping());
        peak = Math.max(peak, rss(pid));
        await new Promise((r) => setTimeout(r, 20));
      }
      // the service holds at most 16 MiB of messages (README, CAPS memory); its payload
      // buffers are freed at the garbage collector's pace, hence the margin
      console.log(`service RSS ${(before / MiB).toFixed(1)} MiB idle, ${(peak / MiB).toFixed(1)} MiB peak; slowest call ${slowest} ms`);
      expect(peak - before).toBeLessThan(48 * MiB);
      // the floods did reach the service: ABORTs and requests of every client got past the kernel buffers
      const written = flooders.map((f) => Number(f.lines.filter((l) => /^\d+$/.test(l)).pop() ?? 0));
      expect(written[0]).toBeGreaterThan(512 * 1024);
      for (const w of written.slice(1)) expect(w).toBeGreaterThan(256 * 1024);
    } finally {
      reader.close();
    }
  }, 60000);
});

describe('a client whose service does not read', () => {
  test('put is ENOBUFS once a full window of requests waits unsent, though every reply was consumed', async () => {
    const name = unique('deaf');
    const uid = process.geteuid!();
    const deaf = await startFixture('caps-deaf-service.js', [cs.capsPath({ name, uid, gid: -1 })]);
    const cli = await Agent.start();
    const port = await cli.call('client', { name, uid, gid: -1, flags: cs.CAPF_ANYCLIENT });
    let refused: Error & { code?: string } | null = null;
    let rounds = 0;
    while (!refused && rounds < 200) {
      let id: string;
      try {
        id = await cli.call('put', { port, size: cs.CAPS_MAXMSG });
      } catch (e) {
        refused = e as Error;
        break;
      }
      rounds++;
      deaf.child.stdin!.write(`reply ${id}\n`);
      expect(await cli.call('wait', { port, size: 0 })).toMatchObject({ id, state: cs.CAPMS_REPLY, n: 0 });
    }
    expect(refused).toMatchObject({ code: 'ENOBUFS', message: expect.stringContaining('not reading') });
    // 128 requests of 128 KiB, plus what the kernel's socket buffers took
    expect(rounds).toBeGreaterThanOrEqual(cs.CAPS_MAXINPROG);
    expect(rounds).toBeLessThan(cs.CAPS_MAXINPROG + 16);
  }, 60000);
});
