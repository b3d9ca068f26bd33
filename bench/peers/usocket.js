// The npm package `usocket`: unix sockets with descriptor passing, the peer a Node
// user would pick for fd passing without cs.
//   usocket.js serve PATH     echo each 16-byte message with its fd
//   usocket.js client PATH    16 bytes + 1 fd round trips
'use strict';
const fs = require('node:fs');
const { UServer, USocket } = require('usocket');
const { control, loopAsync } = require('./control');

const [role, path] = process.argv.slice(2);
const SIZE = 16;

if (role === 'serve') {
  new UServer().on('connection', (s) => {
    s.on('close', () => process.exit(0));
    s.on('readable', () => {
      for (let m; (m = s.read(SIZE, 1));) s.write({ data: m.data, fds: m.fds, callback: () => fs.closeSync(m.fds[0]) });
    });
  }).listen(path, () => console.log('ready'));
} else {
  const s = new USocket();
  const file = fs.openSync('/dev/null', 'r');
  const msg = Buffer.alloc(SIZE, 7);
  let waiting = null;
  // listening for 'readable' before the connection exists aborts inside usocket
  s.connect(path, () => {
    s.on('readable', () => {
      for (let m; waiting && (m = s.read(SIZE, 1));) {
        fs.closeSync(m.fds[0]);
        const w = waiting;
        waiting = null;
        w();
      }
    });
    control(loopAsync([() => new Promise((resolve) => {
      waiting = resolve;
      s.write({ data: msg, fds: [file] });
    })]));
  });
}
