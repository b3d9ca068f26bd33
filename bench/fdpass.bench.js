// Round trips of "16 bytes + 1 fd" between two processes through cs, against
// Node's own net over a unix socket path (bytes only) in the same run.
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const { join } = require('node:path');
const cs = require('../dist/src');
const { freshRoot, startChild, rate, rateSync } = require('./lib');

const SERVER = join(__dirname, 'peers', 'fdpass-server.js');
const MS = Number(process.env.BENCH_MS) || 3000;

async function netRoundTrips(root) {
  const sock = join(root, 'net.sock');
  const { child } = await startChild(SERVER, ['net', sock]);
  const c = net.connect(sock);
  await new Promise((r) => c.once('connect', r));
  c.setNoDelay?.(true);
  const msg = Buffer.alloc(16, 7);
  let waiting = null;
  let got = 0;
  c.on('data', (d) => {
    got += d.length;
    if (got >= 16) {
      got -= 16;
      const w = waiting;
      waiting = null;
      w();
    }
  });
  const r = await rate(() => new Promise((resolve) => {
    waiting = resolve;
    c.write(msg);
  }), MS);
  c.destroy();
  child.kill();
  return r;
}

async function csSyncRoundTrips(root) {
  const path = '/dev/fdp/local/bench-sync';
  const { child } = await startChild(SERVER, ['cs-sync', path], { CS_MOUNT_LOCAL: root });
  const fd = cs.csopen(path);
  const file = fs.openSync(__filename, 'r');
  const msg = Buffer.alloc(16, 7);
  const back = Buffer.alloc(16);
  const r = rateSync(() => {
    fs.writeSync(fd, msg);
    cs.cssend(fd, [file]);
    let got = 0;
    while (got < 16) got += fs.readSync(fd, back, got, 16 - got);
    fs.closeSync(cs.csrecv(fd, 1).fds[0]);
  }, MS);
  cs.csclose(fd);
  fs.closeSync(file);
  child.kill();
  return r;
}

async function csAsyncRoundTrips(root) {
  const path = '/dev/fdp/local/bench-async';
  const { child } = await startChild(SERVER, ['cs-async', path], { CS_MOUNT_LOCAL: root });
  const conn = await cs.open(path);
  const file = fs.openSync(__filename, 'r');
  const r = await rate(async () => {
    await conn.sendFds([file]);
    fs.closeSync((await conn.recvFds({ max: 1 })).fds[0]);
  }, MS);
  conn.destroy();
  fs.closeSync(file);
  child.kill();
  return r;
}

exports.run = async () => {
  const root = freshRoot();
  process.env.CS_MOUNT_LOCAL = root;
  const base = await netRoundTrips(root);
  const sync = await csSyncRoundTrips(root);
  const async_ = await csAsyncRoundTrips(root);
  fs.rmSync(root, { recursive: true, force: true });
  const baseline = { name: 'node net unix socket, 16 bytes only', value: base };
  return [
    { name: 'cs sync API, 16 bytes + 1 fd', value: sync, unit: 'round trips/s', better: 'higher', baseline, target: '>= 0.75x' },
    { name: 'cs async API, 1 fd record', value: async_, unit: 'round trips/s', better: 'higher', baseline, target: '>= 0.75x' },
  ];
};
