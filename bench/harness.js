// The measuring machinery: peer processes pinned to one CPU or not, their CPU time
// from /proc, interleaved paired rounds, per-round ratios, and the cleanup of every
// process the bench started (also when it is interrupted).
'use strict';
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const readline = require('node:readline');

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => process.exit(130));

const READY_MS = 60_000;
/** A run may take this long past its own duration (a slow start, a big burst on a loaded machine). */
const RUN_SLACK_MS = 120_000;

/** User + system CPU time in µs of `pids`, with their reaped children's (USER_HZ is 100 on Linux). */
function cpuUs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 of proc(5)
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
  }
  return ticks * 10_000;
}

/** One process speaking the protocol of peers/control.js; pinned to `cpu` unless it is null. */
class Peer {
  constructor(argv, cpu) {
    const cmd = cpu === null ? argv : ['taskset', '-c', String(cpu), ...argv];
    this.name = argv.map((s) => s.replace(/^.*\//, '')).join(' ');
    this.child = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    this.pids = [this.child.pid];
    this.lines = [];
    this.waiting = null;
    this.failure = null;
    live.add(this.child);
    const fail = (e) => {
      this.failure ??= e;
      this.waiting?.reject(this.failure);
    };
    this.child.once('error', fail);
    // writing to a peer that died fails; its exit says why
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      live.delete(this.child);
      fail(new Error(`${this.name} exited (${signal ?? code})`));
      resolve();
    }));
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (this.waiting) this.waiting.resolve(line);
      else this.lines.push(line);
    });
  }

  /** The next line it prints, within `ms`. */
  line(ms) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(reject, new Error(`${this.name}: no answer within ${ms} ms`)), ms);
      const done = (settle, value) => {
        clearTimeout(timer);
        this.waiting = null;
        settle(value);
      };
      this.waiting = { resolve: (v) => done(resolve, v), reject: (e) => done(reject, e) };
    });
  }

  async ready() {
    const [word, ...pids] = (await this.line(READY_MS)).split(' ');
    if (word !== 'ready') throw new Error(`${this.name}: "${word}" instead of ready`);
    this.pids.push(...pids.map(Number));
    return this;
  }

  /** Work for about `ms`: {count, ns, failures}. */
  async run(ms) {
    this.child.stdin.write(`${ms}\n`);
    const [count, ns, failures = 0] = (await this.line(ms + RUN_SLACK_MS)).split(' ').map(Number);
    return { count, ns, failures };
  }

  stop() {
    this.child.kill('SIGKILL');
    return this.child.pid === undefined ? Promise.resolve() : this.exited;
  }
}

/** A side (its server, if any, then its client) started on `cpu`: run(ms) also measures both processes' CPU time. */
async function startSide(side, cpu) {
  const server = side.server ? new Peer(side.server, cpu) : null;
  const peers = server ? [server] : [];
  try {
    await server?.ready();
    const client = new Peer(side.client, cpu);
    peers.push(client);
    await client.ready();
    const pids = peers.flatMap((p) => p.pids);
    return {
      pids,
      async run(ms) {
        const cpu0 = cpuUs(pids);
        const r = await client.run(ms);
        return { ...r, cpu: cpuUs(pids) - cpu0 };
      },
      stop: () => Promise.all(peers.map((p) => p.stop())),
    };
  } catch (e) {
    await Promise.all(peers.map((p) => p.stop()));
    throw e;
  }
}

/**
 * Every side of `sides` ({key: side}) started on `cpu`, warmed up, then `rounds` rounds
 * in which each side works `ms`, the order rotating so that no side always goes first:
 * {key: [sample per round]}.
 */
async function pairedRounds(sides, { cpu, rounds, ms, warmMs }) {
  const running = {};
  try {
    for (const [key, side] of Object.entries(sides)) running[key] = await startSide(side, cpu);
    const keys = Object.keys(running);
    if (warmMs > 0) for (const key of keys) await running[key].run(warmMs);
    const samples = Object.fromEntries(keys.map((k) => [k, []]));
    for (let r = 0; r < rounds; r++) {
      const order = [...keys.slice(r % keys.length), ...keys.slice(0, r % keys.length)];
      for (const key of order) samples[key].push(await running[key].run(ms));
    }
    return samples;
  } finally {
    await Promise.all(Object.values(running).map((s) => s.stop()));
  }
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
/** Median, min and max. */
function spread(xs) {
  const s = sorted(xs);
  return { median: s[Math.floor((s.length - 1) / 2)], min: s[0], max: s[s.length - 1] };
}

/** Operations per second of one sample. */
const rateOf = (s) => (s.count * 1e9) / s.ns;

/** A side's summary over its rounds: median rate, CPU µs per op over all rounds, failures. */
function summarize(samples) {
  const ops = samples.reduce((n, s) => n + s.count, 0);
  return {
    rate: spread(samples.map(rateOf)).median,
    cpuPerOp: samples.reduce((n, s) => n + s.cpu, 0) / ops,
    failures: samples.reduce((n, s) => n + s.failures, 0),
  };
}

/**
 * Per-round comparisons of side `a` with side `b`: for a rate, a's over b's; for a
 * time, a's over b's (`diff`: a's minus b's, in ms).
 */
function perRound(samples, a, b, { time, diff }) {
  return spread(samples[a].map((sa, i) => {
    const ra = rateOf(sa);
    const rb = rateOf(samples[b][i]);
    if (diff) return 1e3 / ra - 1e3 / rb;
    return time ? rb / ra : ra / rb;
  }));
}

module.exports = { startSide, pairedRounds, summarize, perRound };
