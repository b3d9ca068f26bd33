// Starting services. Cold: csopen of the bundled echo while it is not running, up to
// its first echoed byte, against `node -e 0` start-up (target: start-up + 30 ms).
// Warm: csopen + close of the running echo against a connect + rendezvous done by
// hand with the system-call layer (target: at most 1.5x its time).
'use strict';
const { spawnSync } = require('node:child_process');
const { fchmodSync, readlinkSync, readSync, rmSync, writeSync } = require('node:fs');
const cs = require('../dist/src');
const sys = require('../dist/src/sys');
const { mountDir } = require('../dist/src/namespace');
const { parsePath } = require('../dist/src/path');
const { findLaunchEntry } = require('../dist/src/launch/entry');
const { freshRoot, rateSync } = require('./lib');

const ECHO = '/dev/fdp/local/echo';
const COLD_RUNS = 9;
const WARM_ROUNDS = 2;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const since = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
/** The echo service's mount directory in the current namespace root. */
const echoDir = () => mountDir(parsePath(ECHO), findLaunchEntry('fdp', 'echo').uid);

function nodeStartup() {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  return since(t0);
}

/** ms from csopen of a stopped echo (in a fresh root) to its first echoed byte; the server keeps running. */
function coldStart() {
  process.env.CS_MOUNT_LOCAL = freshRoot();
  const byte = Buffer.from('x');
  const t0 = process.hrtime.bigint();
  const fd = cs.csopen(ECHO);
  writeSync(fd, byte);
  readSync(fd, byte);
  const took = since(t0);
  cs.csclose(fd);
  return took;
}

/** connect + greeting + id record by hand, as a client without the library would. */
function rawOpener(socketPath) {
  const auth = sys.memfd('bench-auth');
  fchmodSync(auth, 0o6400);
  const record = Buffer.alloc(32);
  record.writeBigUInt64LE(BigInt(process.pid), 8);
  record.writeBigUInt64LE(BigInt(process.geteuid()), 16);
  record.writeBigUInt64LE(BigInt(process.getegid()), 24);
  const addr = sys.unixAddr(socketPath);
  const greeting = Buffer.alloc(1);
  return {
    open() {
      const fd = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
      sys.connect(fd, addr);
      if (sys.readRaw(fd, greeting, 1) !== 1) throw new Error('no greeting');
      if (sys.sendFds(fd, record, [auth]) !== 32) throw new Error('short id record');
      return fd;
    },
    close: () => sys.close(auth),
  };
}

exports.run = async () => {
  const saved = process.env.CS_MOUNT_LOCAL;
  const roots = [];
  try {
    const startups = [];
    const colds = [];
    nodeStartup(); // warm the file cache for both
    for (let i = 0; i < COLD_RUNS; i++) {
      startups.push(nodeStartup());
      colds.push(coldStart());
      roots.push(process.env.CS_MOUNT_LOCAL);
    }
    // the last echo started is running: open it again and again, alternating with the
    // baseline, best round of each (the machine's other load only ever slows a round)
    const raw = rawOpener(echoDir().socket);
    let rawRate = 0;
    let csRate = 0;
    for (let i = 0; i < WARM_ROUNDS; i++) {
      rawRate = Math.max(rawRate, rateSync(() => sys.close(raw.open())));
      csRate = Math.max(csRate, rateSync(() => cs.csclose(cs.csopen(ECHO))));
    }
    raw.close();
    const startup = median(startups);
    return [
      {
        name: 'csopen of a stopped echo to its first echoed byte', value: median(colds), unit: 'ms', better: 'lower',
        baseline: { name: 'node -e 0 start-up', value: startup }, target: `<= start-up + 30 ms = ${Math.round(startup + 30)} ms`,
      },
      {
        name: 'csopen + close of a running service', value: csRate, unit: 'opens/s', better: 'higher',
        baseline: { name: 'raw connect + rendezvous + close', value: rawRate }, target: '>= 0.67x (at most 1.5x the time)',
      },
    ];
  } finally {
    for (const r of roots) {
      process.env.CS_MOUNT_LOCAL = r;
      try {
        process.kill(Number(readlinkSync(echoDir().pidLink).replace('/proc/', '')), 'SIGKILL');
      } catch {
        // that server is gone already
      }
      rmSync(r, { recursive: true, force: true });
    }
    if (saved === undefined) delete process.env.CS_MOUNT_LOCAL;
    else process.env.CS_MOUNT_LOCAL = saved;
  }
};
