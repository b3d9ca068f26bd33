// cs through its public API, one process per role (the namespace root is $CS_MOUNT_LOCAL).
//   cs.js serve-fd-sync|serve-fd-async|serve-accept PATH     serve-sink PATH SIZE
//   cs.js serve-caps-sync|serve-caps NAME    serve-caps-ack NAME (answers every request with its first byte)
//   cs.js fd-sync PATH          a cssend record with 1 fd, back again (csopen/cssend/csrecv)
//   cs.js fd-async PATH         a record with 1 fd, back again (Connection.sendFds/recvFds)
//   cs.js caps-sync NAME        64-byte caps_sys_put + caps_sys_wait
//   cs.js call NAME WINDOW CONNS  64-byte client.call(), WINDOW in flight on each of CONNS clients
//   cs.js call-large NAME SIZE  a SIZE-byte client.call() (a sealed memfd above 128 KiB), one at a time
//   cs.js open|csopen PATH      open (async) or csopen, then close
//   cs.js burst PATH TOTAL INFLIGHT  open + close TOTAL times, INFLIGHT at once
//   cs.js bulk PATH SIZE        SIZE bytes one way through a Connection, then a one-byte ack
//   cs.js autostart DIR         in a fresh root under DIR each time: csopen of the stopped bundled echo to its first echoed byte
'use strict';
const fs = require('node:fs');
const { join } = require('node:path');
const {
  csopen, cssend, csrecv, csclose, CS_OPEN_CREATE, open, listen, listServices,
  caps, caps_sys_service, caps_sys_client, caps_sys_put, caps_sys_wait, caps_sys_reply, capsMsgid,
  CAPS_MAXMSG, CAPMS_REQUEST, CAPF_ANYCLIENT,
} = require('../..');
const { control, loopSync, loopAsync, loopTimed, burst, bulkSend, bulkSink } = require('./control');

const [role, path, ...args] = process.argv.slice(2);
const [a, b] = args.map(Number);
const SMALL = Buffer.alloc(64, 'q');

/** Fill `buf` from a blocking fd; end of stream ends the process (the bench is done with this pair). */
function readExactly(fd, buf) {
  for (let got = 0; got < buf.length;) {
    const n = fs.readSync(fd, buf, got, buf.length - got);
    if (n === 0) process.exit(0);
    got += n;
  }
}

async function acceptEach(onConnection) {
  const listener = await listen(path);
  console.log('ready');
  for await (const conn of listener) {
    conn.on('error', () => conn.destroy());
    onConnection(conn);
  }
}

const openClose = async () => (await open(path)).destroy();

/** The first pid recorded for a service under the current root. */
const serverPid = () => listServices().find((s) => s.pid !== null)?.pid;

async function coldEcho() {
  process.env.CS_MOUNT_LOCAL = fs.mkdtempSync(join(path, 'root-'));
  process.env.CS_IDLE_MS = '5000'; // an echo orphaned by an interrupted bench retires by itself
  const byte = Buffer.from('x');
  const t0 = process.hrtime.bigint();
  const fd = csopen('/dev/fdp/local/echo');
  fs.writeSync(fd, byte);
  readExactly(fd, byte);
  const took = process.hrtime.bigint() - t0;
  csclose(fd);
  const pid = serverPid();
  process.kill(pid, 'SIGKILL');
  // the echo is our child: wait until the event loop has reaped it, so its CPU time counts
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
  }
  fs.rmSync(process.env.CS_MOUNT_LOCAL, { recursive: true, force: true });
  return took;
}

const roles = {
  'serve-fd-sync'() {
    const listenFd = csopen(path, CS_OPEN_CREATE);
    console.log('ready');
    const conn = csrecv(listenFd).fds[0];
    for (;;) {
      let fds;
      try {
        fds = csrecv(conn, 1).fds;
      } catch (e) {
        if (e.code === 'ECONNRESET') process.exit(0); // the client is done
        throw e;
      }
      cssend(conn, fds);
      fs.closeSync(fds[0]);
    }
  },
  'serve-fd-async': () => acceptEach(async (conn) => {
    conn.on('close', () => process.exit(0));
    for (;;) {
      const { fds } = await conn.recvFds({ max: 1 });
      await conn.sendFds(fds);
      fs.closeSync(fds[0]);
    }
  }),
  'serve-accept': () => acceptEach((conn) => {
    conn.on('end', () => conn.destroy());
    conn.resume();
  }),
  'serve-sink': () => acceptEach((conn) => bulkSink(conn, a)),
  'serve-caps-sync'() {
    const port = caps_sys_service(path, process.geteuid(), -1, 0, CAPF_ANYCLIENT);
    console.log('ready');
    const buf = Buffer.alloc(CAPS_MAXMSG);
    const id = capsMsgid();
    for (;;) {
      const n = caps_sys_wait(port, buf, id);
      if (id.c_state === CAPMS_REQUEST) caps_sys_reply(port, buf.subarray(0, n), id.c_id);
    }
  },
  async 'serve-caps'() {
    const svc = await caps.service(path, { access: CAPF_ANYCLIENT });
    console.log('ready');
    for await (const req of svc) req.reply(req.data);
  },
  async 'serve-caps-ack'() {
    const svc = await caps.service(path, { access: CAPF_ANYCLIENT });
    console.log('ready');
    for await (const req of svc) req.reply(req.data.subarray(0, 1));
  },
  'fd-sync'() {
    const fd = csopen(path);
    const file = fs.openSync('/dev/null', 'r');
    control(loopSync(() => {
      cssend(fd, [file]);
      fs.closeSync(csrecv(fd, 1).fds[0]);
    }));
  },
  async 'fd-async'() {
    const conn = await open(path);
    const file = fs.openSync('/dev/null', 'r');
    control(loopAsync([async () => {
      await conn.sendFds([file]);
      fs.closeSync((await conn.recvFds({ max: 1 })).fds[0]);
    }]));
  },
  'caps-sync'() {
    const port = caps_sys_client(path, process.geteuid(), -1, 0, CAPF_ANYCLIENT);
    const buf = Buffer.alloc(CAPS_MAXMSG);
    const id = capsMsgid();
    control(loopSync(() => {
      caps_sys_put(port, SMALL);
      caps_sys_wait(port, buf, id);
    }));
  },
  async call() {
    const clients = [];
    for (let i = 0; i < b; i++) clients.push(await caps.client(path, { uid: process.geteuid() }));
    control(loopAsync(clients.map((c) => () => c.call(SMALL)), a));
  },
  async 'call-large'() {
    const client = await caps.client(path, { uid: process.geteuid() });
    const data = Buffer.alloc(a, 'b');
    control(loopTimed(async () => {
      const t0 = process.hrtime.bigint();
      await client.call(data);
      return process.hrtime.bigint() - t0;
    }));
  },
  open: () => control(loopAsync([openClose])),
  csopen: () => control(loopSync(() => csclose(csopen(path)))),
  burst: () => control(burst(openClose, a, b)),
  async bulk() {
    control(loopTimed(bulkSend(await open(path), a)));
  },
  autostart: () => control(loopTimed(coldEcho)),
};

roles[role]();
