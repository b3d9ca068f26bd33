#!/usr/bin/env node
// `npm run bench [-- OPTIONS]`: every case of cases.js as interleaved, paired rounds,
// each side pinned (client and server on one CPU: the library's own cost) and
// unpinned (as deployed, wake-ups of idle CPUs included). See the README's Benchmarks.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const { join } = require('node:path');
const cases = require('./cases');
const { pairedRounds, summarize, perRound } = require('./harness');
const { countSyscalls } = require('./syscalls');

const USAGE = `usage: npm run bench -- [--quick] [--only NAME,...] [--rounds N] [--ms N] [--cpu N] [--strace]
  --quick      3 rounds of 100 ms per side and mode, smaller bulk and burst (checks the harness)
  --only       cases: ${cases.map((c) => c.name).join(', ')}
  --rounds N   paired rounds per mode (default 9)       --ms N   time per side per round (default 300)
  --cpu N      the CPU pinned runs use (default the last one)
  --strace     instead of timing: system calls per operation (strace -c -f), of fdpass or the --only cases`;

function parseArgs(argv) {
  const opts = { quick: false, only: null, rounds: null, ms: null, cpu: os.cpus().length - 1, strace: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === '--quick') opts.quick = true;
    else if (arg === '--strace') opts.strace = true;
    else if (arg === '--only') opts.only = value().split(',');
    else if (arg === '--rounds') opts.rounds = Number(value());
    else if (arg === '--ms') opts.ms = Number(value());
    else if (arg === '--cpu') opts.cpu = Number(value());
    else throw new Error(`unknown option ${arg}`);
  }
  opts.rounds ??= opts.quick ? 3 : 9;
  opts.ms ??= opts.quick ? 100 : 300;
  const unknown = (opts.only ?? []).filter((n) => !cases.some((c) => c.name === n));
  if (unknown.length) throw new Error(`no case ${unknown.join(', ')}`);
  if (!(opts.rounds >= 1 && opts.ms >= 10)) throw new Error('--rounds must be >= 1 and --ms >= 10');
  return opts;
}

/** The C reference, built now into a git-ignored directory, or why not. */
function buildC() {
  const out = join(__dirname, '.build', 'fdping');
  fs.mkdirSync(join(__dirname, '.build'), { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', out, join(__dirname, 'peers', 'fdping.c')], { encoding: 'utf8' });
  if (r.error) return { skip: `no C compiler (cc: ${r.error.code})` };
  if (r.status !== 0) return { skip: `cc failed: ${r.stderr.trim()}` };
  return { path: out };
}

/** null when the usocket package loads, else why not. */
function usocketMissing() {
  try {
    require('usocket');
    return null;
  } catch (e) {
    return { skip: `usocket does not load (${e.code ?? e.message.split('\n')[0]})` };
  }
}

function hasTaskset() {
  return !spawnSync('taskset', ['-c', '0', 'true']).error;
}

const fmt = (v) => (v >= 1e4 ? `${(v / 1e3).toPrecision(3)}k` : v >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toPrecision(3));
const COL = 42;
const pad = (s, n) => `${String(s).padEnd(n - 2)}  `;
const range = (s, digits) => `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}, ${s.max.toFixed(digits)}]`;

/** How a case shows one side: its rate or time per op, and CPU per op of both processes. */
function showSide(c, s, quick) {
  const perOp = c.perOp ? c.perOp(quick) : 1;
  const value = c.show === 'rate' ? `${fmt(s.rate * perOp)} ${c.unit}/s` : c.show === 'us' ? `${fmt(1e6 / s.rate)} us` : `${fmt(1e3 / s.rate)} ms`;
  const cpu = c.show === 'ms' ? `${fmt(s.cpuPerOp / 1e3)} ms` : `${fmt(s.cpuPerOp / perOp)} us/${c.unit}`;
  return `${pad(value, 14)}cpu ${cpu}${s.failures ? ` (${s.failures} failed)` : ''}`;
}

/** "ok"/"MISS" for `value` against a target like ">= 1.0". */
function meets(target, value) {
  const [op, n] = target.split(' ');
  return (op === '>=' ? value >= Number(n) : value <= Number(n)) ? 'ok' : 'MISS';
}

/** Every side of case `c` in paired rounds, in each of `modes`: {result: {mode: samples}, skipped: {side: {skip}}}. */
async function measure(c, opts, ctx, modes) {
  const result = {};
  let skipped = {};
  for (const [mode, cpu] of modes) {
    const all = c.sides({ ...ctx, tag: mode, quick: opts.quick });
    skipped = Object.fromEntries(Object.entries(all).filter(([, s]) => s.skip));
    const sides = Object.fromEntries(Object.entries(all).filter(([, s]) => !s.skip));
    const warmMs = c.warm === false ? 0 : opts.ms / 2;
    result[mode] = await pairedRounds(sides, { cpu, rounds: c.rounds ?? opts.rounds, ms: opts.ms, warmMs });
  }
  return { result, skipped };
}

/** Prints a case's sides, ratios and targets (judged in the first mode); returns the verdicts. */
function report(c, opts, modes, { result, skipped }) {
  const judged = modes[0][0];
  const names = Object.keys(result[judged]);
  const width = Math.max(...names.map((n) => n.length), ...c.compare.map((r) => r.a.length + r.b.length + 3)) + 2;
  const row = (label, ...cols) => console.log(`   ${pad(label, width)}${cols.join('')}`);
  row('', ...modes.map(([m, cpu]) => pad(cpu === null ? m : `${m} (cpu ${cpu})`, COL)));
  for (const name of names) row(name, ...modes.map(([m]) => pad(showSide(c, summarize(result[m][name]), opts.quick), COL)));
  for (const [name, s] of Object.entries(skipped)) row(name, `skipped: ${s.skip}`);
  const verdicts = [];
  const judge = (target, value, unit, where = judged) => {
    const verdict = meets(target, value);
    verdicts.push(verdict);
    return `target ${target}${unit} ${where}: ${verdict}`;
  };
  for (const cmp of c.compare) {
    const label = `${cmp.a} ${cmp.diff ? '-' : '/'} ${cmp.b}`;
    if (skipped[cmp.a] || skipped[cmp.b]) {
      row(label, 'skipped');
      continue;
    }
    const per = modes.map(([m]) => perRound(result[m], cmp.a, cmp.b, { time: c.show !== 'rate', diff: cmp.diff }));
    const unit = cmp.diff ? ' ms' : 'x';
    row(label, ...per.map((s) => pad(`${range(s, cmp.diff ? 1 : 2)}${unit}`, COL)), cmp.target ? judge(cmp.target, per[0].median, unit) : '');
  }
  for (const [name, max] of Object.entries(c.cpuTarget ?? {})) {
    const cpu = summarize(result[judged][name]).cpuPerOp;
    row(`${name} cpu`, pad(`${fmt(cpu)} us/${c.unit} (${judged})`, COL), judge(`<= ${max}`, cpu, ' us'));
  }
  if (c.failuresTarget !== undefined) {
    for (const name of names) {
      const failures = modes.reduce((n, [m]) => n + summarize(result[m][name]).failures, 0);
      row(`${name} failures`, pad(failures, COL), judge(`<= ${c.failuresTarget}`, failures, '', 'all modes'));
    }
  }
  return verdicts;
}

async function runCase(c, opts, ctx) {
  const modes = [['pinned', opts.cpu], ['unpinned', null]].filter(([, cpu]) => cpu === null || ctx.taskset);
  const t0 = Date.now();
  console.log(`\n== ${c.name}: ${c.title}`);
  if (!ctx.taskset) console.log('   (pinned runs skipped: no taskset)');
  const verdicts = report(c, opts, modes, await measure(c, opts, ctx, modes));
  console.log(`   (${Math.round((Date.now() - t0) / 1000)} s)`);
  return verdicts;
}

function describeMachine(opts) {
  const read = (p) => {
    try {
      return fs.readFileSync(p, 'utf8').trim();
    } catch {
      return 'unknown';
    }
  };
  console.log(`node ${process.version}, ${os.cpus().length} cpus, cpuidle driver ${read('/sys/devices/system/cpu/cpuidle/current_driver')}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${opts.quick ? 'QUICK: ' : ''}${opts.rounds} paired rounds x ${opts.ms} ms per side, per mode; ratios: median [min, max] over rounds`);
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'cs-bench-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  process.env.CS_MOUNT_LOCAL = dir; // every cs peer's namespace root, removed with dir
  const ctx = { dir, fdping: buildC(), usocket: usocketMissing(), taskset: hasTaskset() };
  if (opts.strace) {
    const cpu = ctx.taskset ? opts.cpu : null;
    for (const c of cases.filter((x) => (opts.only ? opts.only.includes(x.name) : x.name === 'fdpass'))) {
      await countSyscalls(c, { ...ctx, tag: 'strace', quick: opts.quick }, { ms: opts.ms, cpu });
    }
    return;
  }
  describeMachine(opts);
  const t0 = Date.now();
  const verdicts = [];
  for (const c of cases.filter((x) => !opts.only || opts.only.includes(x.name))) verdicts.push(...(await runCase(c, opts, ctx)));
  const missed = verdicts.filter((v) => v === 'MISS').length;
  const met = verdicts.length ? `${verdicts.length - missed} of ${verdicts.length} targets met` : 'no targets in these cases';
  console.log(`\n${met}; ${Math.round((Date.now() - t0) / 1000)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
