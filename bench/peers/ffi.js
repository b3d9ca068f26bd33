// The choice of koffi over ffi-rs for the system-call layer: one trivial libc call.
//   ffi.js koffi|ffi-rs
'use strict';
const { control, loopSync } = require('./control');

const bindings = {
  koffi() {
    return require('koffi').load('libc.so.6').func('int getppid()');
  },
  'ffi-rs'() {
    const ffi = require('ffi-rs');
    ffi.open({ library: 'libc', path: 'libc.so.6' });
    // load() measured faster than define() on ffi-rs 1.3, so it is the fair baseline
    return () => ffi.load({ library: 'libc', funcName: 'getppid', retType: ffi.DataType.I32, paramsType: [], paramsValue: [] });
  },
};

const getppid = bindings[process.argv[2]]();
if (getppid() !== process.ppid) throw new Error('getppid() disagrees with process.ppid');
control(loopSync(getppid));
