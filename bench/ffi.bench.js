// Re-measures the choice of koffi over ffi-rs for the system-call layer: the
// cost of one trivial libc call through each, in the same run.
'use strict';
const koffi = require('koffi');
const ffi = require('ffi-rs');
const { rateSync } = require('./lib');

const MS = Number(process.env.BENCH_MS) || 2000;

exports.run = async () => {
  const getppid = koffi.load('libc.so.6').func('int getppid()');
  ffi.open({ library: 'libc', path: 'libc.so.6' });
  // load() measured faster than define() on ffi-rs 1.3 here, so it is the fair baseline
  const viaFfiRs = () => ffi.load({ library: 'libc', funcName: 'getppid', retType: ffi.DataType.I32, paramsType: [], paramsValue: [] });
  if (getppid() !== viaFfiRs()) throw new Error('the two bindings disagree');
  const k = rateSync(getppid, MS);
  const f = rateSync(viaFfiRs, MS);
  ffi.close('libc');
  return [{ name: 'koffi getppid()', value: k, unit: 'calls/s', better: 'higher', baseline: { name: 'ffi-rs getppid()', value: f } }];
};
