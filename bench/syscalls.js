// `npm run bench -- --strace`: system calls per operation of each side of a case,
// both processes counted by `strace -c -f` attached after start-up and warm-up, so
// only the round trips (and two control lines) are in the count.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const readline = require('node:readline');
const { startSide } = require('./harness');

const ATTACH_MS = 10_000;
const SHOWN = 8;

/** strace attached to every thread of `pids`, once it says so for each pid, within ATTACH_MS. */
function attach(pids, out) {
  const strace = spawn('strace', ['-c', '-f', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] });
  const waiting = new Set(pids.map(String));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`strace did not attach within ${ATTACH_MS} ms`)), ATTACH_MS);
    const fail = (e) => {
      clearTimeout(timer);
      strace.kill('SIGKILL');
      reject(e);
    };
    strace.once('error', fail);
    readline.createInterface({ input: strace.stderr }).on('line', (line) => {
      waiting.delete(/Process (\d+) attached/.exec(line)?.[1]);
      if (waiting.size === 0) {
        clearTimeout(timer);
        resolve(strace);
      }
    });
  });
}

/** {syscall: calls} from an `strace -c` summary. */
function parseSummary(text) {
  const calls = {};
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 5 && /^\d+$/.test(f[3]) && f[f.length - 1] !== 'total') calls[f[f.length - 1]] = Number(f[3]);
  }
  return calls;
}

async function countSyscalls(c, ctx, opts) {
  if (spawnSync('strace', ['-V']).error) {
    console.log('strace not found: install it (apt-get install strace) for --strace');
    return;
  }
  const where = opts.cpu === null ? 'unpinned' : `pinned to cpu ${opts.cpu}`;
  console.log(`system calls per ${c.unit}, client + server, ${c.title}; ${where}, ${opts.ms * 3} ms under strace`);
  for (const [name, side] of Object.entries(c.sides(ctx))) {
    if (side.skip) {
      console.log(`  ${name}: skipped: ${side.skip}`);
      continue;
    }
    const running = await startSide(side, opts.cpu);
    try {
      await running.run(opts.ms);
      const out = join(ctx.dir, `strace-${name.replace(/\W/g, '_')}.txt`);
      const strace = await attach(running.pids, out);
      const { count } = await running.run(opts.ms * 3);
      const exited = new Promise((resolve) => strace.once('exit', resolve));
      strace.kill('SIGINT');
      await exited;
      const calls = Object.entries(parseSummary(readFileSync(out, 'utf8'))).sort((x, y) => y[1] - x[1]);
      const total = calls.reduce((n, [, k]) => n + k, 0);
      const top = calls.slice(0, SHOWN).map(([s, k]) => `${s} ${(k / count).toFixed(2)}`).join(', ');
      console.log(`  ${name.padEnd(10)} ${(total / count).toFixed(1).padStart(6)} per ${c.unit} (${count} ${c.unit}): ${top}`);
    } finally {
      await running.stop();
    }
  }
}

module.exports = { countSyscalls };
