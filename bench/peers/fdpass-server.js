// Echo peer for fdpass.bench.js: `fdpass-server.js MODE PATH`; prints "ready" when listening.
//   cs-sync   C-shaped API: read 16 bytes + a record with one fd, send both back
//   cs-async  async API: receive a record with one fd, send it back
//   net       Node net over a unix socket path: echo bytes
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const cs = require('../../dist/src');

const [mode, path] = process.argv.slice(2);

if (mode === 'cs-sync') {
  const l = cs.csopen(path, cs.CS_OPEN_CREATE);
  console.log('ready');
  const conn = cs.csrecv(l).fds[0];
  const buf = Buffer.alloc(16);
  for (;;) {
    let got = 0;
    while (got < 16) {
      const n = fs.readSync(conn, buf, got, 16 - got);
      if (n === 0) process.exit(0);
      got += n;
    }
    const { fds } = cs.csrecv(conn, 1);
    fs.writeSync(conn, buf);
    cs.cssend(conn, fds);
    fs.closeSync(fds[0]);
  }
} else if (mode === 'cs-async') {
  (async () => {
    const l = await cs.listen(path);
    console.log('ready');
    const conn = await l.accept();
    conn.on('close', () => process.exit(0));
    for (;;) {
      const { fds } = await conn.recvFds({ max: 1 });
      await conn.sendFds(fds);
      fs.closeSync(fds[0]);
    }
  })().catch(() => process.exit(0));
} else if (mode === 'net') {
  net.createServer((s) => {
    s.on('data', (d) => s.write(d));
    s.on('close', () => process.exit(0));
  }).listen(path, () => console.log('ready'));
}
