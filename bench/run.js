#!/usr/bin/env node
// Runs every bench case in one process run and prints each result as a ratio
// against its baseline measured in the same run. `node bench/run.js [name...]`.
'use strict';
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const only = process.argv.slice(2);
const cases = readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .map((f) => f.replace(/\.bench\.js$/, ''))
  .filter((n) => only.length === 0 || only.includes(n));

function fmt(v) {
  return v >= 100 ? Math.round(v).toLocaleString('en') : v.toPrecision(3);
}

(async () => {
  console.log(`node ${process.version}, ${require('node:os').cpus().length} cpus\n`);
  for (const name of cases) {
    const rows = await require(join(__dirname, `${name}.bench.js`)).run();
    for (const r of rows) {
      // ratio > 1 means cs is better than the baseline, whichever way "better" points
      const ratio = r.better === 'lower' ? r.baseline.value / r.value : r.value / r.baseline.value;
      console.log(`${name}: ${r.name}: ${fmt(r.value)} ${r.unit} vs ${r.baseline.name}: ${fmt(r.baseline.value)} ${r.unit} -> ${ratio.toFixed(2)}x${r.target ? `  (target ${r.target})` : ''}`);
    }
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
