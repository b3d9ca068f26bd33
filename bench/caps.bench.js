// CAPS between two processes against plain Node transports measured in the same
// run: a put->reply round trip vs a unix-socket request/reply with a 4-byte length
// prefix, and pipelined 64-byte requests (window 128) vs child_process IPC.
// Run as a child (`node caps.bench.js serve-<kind> ...`) this file is the server.
'use strict';
const net = require('node:net');
const { join } = require('node:path');
const { freshRoot, startChild, rate, rateSync } = require('./lib');

const WINDOW = 128;
const SMALL = 64;
const MS = Number(process.env.BENCH_MS) || 2000;

/** Servers, each printing one line once ready. */
const servers = {
  /** The C-shaped loop a C service would run: wait, reply, and take the DISPOSE that follows. */
  'caps-sync'(name) {
    const cs = require('../dist/src');
    const port = cs.caps_sys_service(name, process.geteuid(), -1, 0, cs.CAPF_ANYCLIENT);
    console.log('ready');
    const buf = Buffer.alloc(cs.CAPS_MAXMSG);
    const id = cs.capsMsgid();
    for (;;) {
      const n = cs.caps_sys_wait(port, buf, id);
      if (id.c_state === cs.CAPMS_REQUEST) cs.caps_sys_reply(port, buf.subarray(0, n), id.c_id);
    }
  },
  /** The idiomatic service: for await over requests. */
  async 'caps-async'(name) {
    const { caps, CAPF_ANYCLIENT } = require('../dist/src');
    const svc = await caps.service(name, { access: CAPF_ANYCLIENT });
    console.log('ready');
    for await (const req of svc) req.reply(req.data);
  },
  /** Echo of length-prefixed frames over a unix socket. */
  net(path) {
    net.createServer((s) => {
      let pending = Buffer.alloc(0);
      s.on('data', (d) => {
        pending = pending.length ? Buffer.concat([pending, d]) : d;
        while (pending.length >= 4) {
          const len = pending.readUInt32LE(0);
          if (pending.length < 4 + len) break;
          s.write(pending.subarray(0, 4 + len));
          pending = pending.subarray(4 + len);
        }
      });
    }).listen(path, () => console.log('ready'));
  },
  ipc() {
    process.on('message', (m) => process.send(m));
    console.log('ready');
  },
};

if (require.main === module) {
  const [, , kind, arg] = process.argv;
  process.once('disconnect', () => process.exit(0)); // the bench is gone (the blocking caps-sync loop is killed by it)
  servers[kind.replace(/^serve-/, '')](arg);
}

let seq = 0;
const ROUNDS = 3;

/** The median of `rounds` measurements by each of `fns`, taken in turns so that a busy moment hits them alike. */
async function alternate(fns, rounds = ROUNDS) {
  const got = fns.map(() => []);
  for (let r = 0; r < rounds; r++) for (let i = 0; i < fns.length; i++) got[i].push(await fns[i]());
  return got.map((v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]);
}

/** Round trips per second of blocking put + wait on one client port. */
function capsRoundTrip(cs, port, msg) {
  const buf = Buffer.alloc(cs.CAPS_MAXMSG);
  const id = cs.capsMsgid();
  return rateSync(() => {
    cs.caps_sys_put(port, msg);
    cs.caps_sys_wait(port, buf, id);
  }, MS);
}

/** A connected unix socket whose `roundTrip()` sends one length-prefixed frame and awaits its echo. */
async function netClient(path, msg) {
  const sock = net.connect(path);
  await new Promise((r) => sock.once('connect', r));
  const frame = Buffer.alloc(4 + msg.length);
  frame.writeUInt32LE(msg.length, 0);
  msg.copy(frame, 4);
  let want = null;
  let got = Buffer.alloc(0);
  sock.on('data', (d) => {
    got = got.length ? Buffer.concat([got, d]) : d;
    if (got.length >= 4 && got.length >= 4 + got.readUInt32LE(0)) {
      got = got.subarray(4 + got.readUInt32LE(0));
      want();
    }
  });
  return {
    roundTrip: () => new Promise((resolve) => {
      want = resolve;
      sock.write(frame);
    }),
    close: () => sock.destroy(),
  };
}

/** Messages per second with WINDOW requests always in flight: `start(onReply)` sends them; onReply says whether to go on. */
function pipelined(start) {
  return new Promise((resolve) => {
    let done = 0;
    let stopAt = 0;
    let t0 = 0n;
    const warm = Date.now() + MS / 4;
    const onReply = () => {
      done++;
      const now = Date.now();
      if (t0 === 0n && now >= warm) {
        t0 = process.hrtime.bigint();
        done = 0;
        stopAt = now + MS;
      }
      if (t0 !== 0n && now >= stopAt) {
        resolve(done / (Number(process.hrtime.bigint() - t0) / 1e9));
        return false;
      }
      return true;
    };
    start(onReply);
  });
}

/**
 * Keep WINDOW requests in flight through `send(onDone)` until pipelined() stops, then
 * let the window empty so that the next measurement starts from nothing in flight.
 */
async function windowed(send) {
  let inFlight = 0;
  let stopped = false;
  let emptied;
  const empty = new Promise((resolve) => (emptied = resolve));
  const rateNow = await pipelined((onReply) => {
    const one = () => {
      inFlight++;
      send(() => {
        inFlight--;
        if (!stopped && onReply()) one();
        else stopped = true;
        if (stopped && inFlight === 0) emptied();
      });
    };
    for (let i = 0; i < WINDOW; i++) one();
  });
  await empty;
  return rateNow;
}

function capsPipelined(client, msg) {
  return windowed((onDone) => client.call(msg).then(onDone));
}

/** IPC replies carry no id: they come back in order, so the oldest waiting callback is theirs. */
async function ipcPipelined(child, text) {
  const waiting = [];
  const onMessage = () => waiting.shift()();
  child.on('message', onMessage);
  try {
    return await windowed((onDone) => {
      waiting.push(onDone);
      child.send(text);
    });
  } finally {
    child.off('message', onMessage);
  }
}

exports.run = async () => {
  const cs = require('../dist/src');
  const env = { CS_MOUNT_LOCAL: freshRoot() };
  process.env.CS_MOUNT_LOCAL = env.CS_MOUNT_LOCAL;
  const small = Buffer.alloc(SMALL, 'q');
  const sockPath = join(env.CS_MOUNT_LOCAL, 'bench.sock');
  const syncName = `bench_sync_${process.pid}_${seq++}`;
  const asyncName = `bench_async_${process.pid}_${seq++}`;
  const children = [];
  const start = async (args) => {
    const { child } = await startChild(__filename, args, env);
    children.push(child);
    return child;
  };
  let netc;
  let port;
  let client;
  try {
    await start(['serve-net', sockPath]);
    await start(['serve-caps-sync', syncName]);
    await start(['serve-caps-async', asyncName]);
    const ipcChild = await start(['serve-ipc']);
    netc = await netClient(sockPath, small);
    port = cs.caps_sys_client(syncName, process.geteuid(), -1, 0, cs.CAPF_ANYCLIENT);
    client = await cs.caps.client(asyncName, { uid: process.geteuid() });
    const [netRate, syncRate, callRate] = await alternate([
      () => rate(netc.roundTrip, MS),
      () => capsRoundTrip(cs, port, small),
      () => rate(() => client.call(small), MS),
    ]);
    const [piped, ipc] = await alternate([() => capsPipelined(client, small), () => ipcPipelined(ipcChild, 'q'.repeat(SMALL))]);
    const baseline = { name: 'net unix socket, 4-byte length prefix', value: 1e6 / netRate };
    return [
      { name: 'round trip, caps_sys_put + caps_sys_wait (64 B)', value: 1e6 / syncRate, unit: 'µs', better: 'lower', baseline, target: '<= 1.25x the baseline time' },
      { name: 'round trip, await client.call() (64 B)', value: 1e6 / callRate, unit: 'µs', better: 'lower', baseline },
      { name: `pipelined 64 B requests, window ${WINDOW}`, value: piped, unit: 'msg/s', better: 'higher', baseline: { name: 'child_process IPC (process.send)', value: ipc }, target: '>= 150,000 msg/s and ahead of IPC' },
    ];
  } finally {
    client?.close();
    if (port !== undefined) cs.caps_sys_close(port);
    netc?.close();
    for (const child of children) child.kill('SIGKILL');
  }
};
