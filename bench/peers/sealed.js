// A large payload as a sealed memfd through a Connection, end to end: the client seals
// SIZE bytes it holds and sends the descriptor; the server reads all of them into its
// own buffer (readSealed) and acks with one byte.
//   sealed.js serve PATH SIZE    sealed.js send PATH SIZE
'use strict';
const { closeSync } = require('node:fs');
const { open, sealBytes, readSealed } = require('../..');
const { serveRecords } = require('./records');
const { control, loopTimed } = require('./control');

const [role, path, size] = process.argv.slice(2);
const SIZE = Number(size);

const roles = {
  serve: () => serveRecords(path, async (conn) => {
    const { fds: [fd] } = await conn.recvFds({ max: 1 });
    readSealed(fd, SIZE);
    closeSync(fd);
    conn.write('k');
  }),
  async send() {
    const conn = await open(path);
    const data = Buffer.alloc(SIZE, 'b');
    control(loopTimed(async () => {
      const t0 = process.hrtime.bigint();
      const acked = new Promise((resolve) => conn.once('data', resolve));
      const fd = sealBytes(data);
      await conn.sendFds([fd]);
      closeSync(fd);
      await acked;
      return process.hrtime.bigint() - t0;
    }));
  },
};

roles[role]();
