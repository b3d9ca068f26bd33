// tcp loopback request/reply: a cs stream (netListen/netConnect through src/net on
// both ends) against plain Node `net` sockets, both with Nagle off, in the same run.
'use strict';
const nodeNet = require('node:net');
const { freshRoot, rate, startChild } = require('./lib');

const MESSAGE = Buffer.alloc(64, 'x');

/** Child: an echo server; prints its address, then echoes until killed. */
function serve(kind, path) {
  if (kind === 'node') {
    const server = nodeNet.createServer((s) => {
      s.setNoDelay(true);
      s.pipe(s);
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
    return;
  }
  const net = require('../dist/src/net');
  const { parsePath } = require('../dist/src/path');
  const listener = net.netListen(parsePath(path));
  listener.on('connection', (conn) => conn.pipe(conn));
  console.log(listener.path);
}

/** One request/reply round trip on a Duplex: write, wait for the same number of bytes back. */
function roundTrip(stream) {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (d) => {
      got += d.length;
      if (got >= MESSAGE.length) {
        stream.off('data', onData);
        resolve();
      }
    };
    stream.on('data', onData);
    stream.write(MESSAGE);
  });
}

/** A connected client of `kind` to the server of that kind, and the server to kill afterwards. */
async function connect(kind) {
  const root = freshRoot();
  const path = `/dev/tcp/local/bench-${process.pid}`;
  const { child, line } = await startChild(__filename, ['--serve', kind, path], { CS_MOUNT_LOCAL: root });
  if (kind === 'node') {
    const stream = nodeNet.connect(Number(line), '127.0.0.1');
    stream.setNoDelay(true);
    await new Promise((r) => stream.once('connect', r));
    return { stream, child };
  }
  process.env.CS_MOUNT_LOCAL = root;
  const net = require('../dist/src/net');
  const { parsePath } = require('../dist/src/path');
  return { stream: await net.netConnect(parsePath(path)), child };
}

exports.run = async () => {
  const sides = { node: await connect('node'), cs: await connect('cs') };
  // short alternating slices, summed: a busy machine then slows both sides alike
  const total = { node: 0, cs: 0 };
  try {
    for (let slice = 0; slice < 8; slice++) {
      for (const kind of ['node', 'cs']) total[kind] += await rate(() => roundTrip(sides[kind].stream), 250);
    }
  } finally {
    for (const { stream, child } of Object.values(sides)) {
      stream.destroy();
      child.kill();
    }
  }
  return [{
    name: 'cs tcp request/reply (64 B)', value: total.cs / 8, unit: 'round trips/s', better: 'higher',
    baseline: { name: 'node net', value: total.node / 8 }, target: '>= 0.83x (cs within 1.2x of node)',
  }];
};

if (process.argv[2] === '--serve') serve(process.argv[3], process.argv[4]);
