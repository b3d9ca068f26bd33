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
      // cs over baseline, in the case's own unit: a time ratio for times, a rate ratio for rates
      const ratio = r.value / r.baseline.value;
      const of = r.better === 'lower' ? "the baseline's time" : "the baseline's rate";
      console.log(`${name}: ${r.name}: ${fmt(r.value)} ${r.unit} vs ${r.baseline.name}: ${fmt(r.baseline.value)} ${r.unit} -> ${ratio.toFixed(2)}x ${of}${r.target ? `  (target ${r.target})` : ''}`);
    }
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
