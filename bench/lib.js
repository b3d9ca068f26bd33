// Shared bench helpers: a child process runner and a timed loop.
'use strict';
const { fork } = require('node:child_process');
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

/** A fresh namespace root for one bench case. */
exports.freshRoot = () => mkdtempSync(join(tmpdir(), 'cs-bench-'));

/** Fork `script` with `args`, resolve once it prints its first line on stdout (its "ready"). */
exports.startChild = (script, args, env) =>
  new Promise((resolve, reject) => {
    const child = fork(script, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.stdout.once('data', (line) => resolve({ child, line: String(line).trim() }));
  });

/** Run async `fn` repeatedly for `ms` after a warm-up; returns operations per second. */
exports.rate = async (fn, ms = 2000) => {
  const warm = Date.now() + ms / 4;
  while (Date.now() < warm) await fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await fn();
    n++;
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
};

/** Synchronous form of rate() for blocking loops. */
exports.rateSync = (fn, ms = 2000) => {
  const warm = Date.now() + ms / 4;
  while (Date.now() < warm) fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    fn();
    n++;
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
};
