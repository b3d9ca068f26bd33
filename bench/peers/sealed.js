// A large payload as a sealed memfd through a Connection, end to end: the client seals
// SIZE bytes it holds and sends the descriptor; the server reads all of them into its
// own buffer (readSealed), or with `map` maps them (mapSealed) and reads one byte a
// page, then acks with one byte.
//   sealed.js serve PATH SIZE [map]    sealed.js send PATH SIZE
'use strict';
const { closeSync } = require('node:fs');
const { open, sealBytes, readSealed, mapSealed } = require('../..');
const { serveRecords } = require('./records');
const { control, loopTimed } = require('./control');

const [role, path, size, how] = process.argv.slice(2);
const SIZE = Number(size);

const roles = {
  serve: () => serveRecords(path, async (conn) => {
    const { fds: [fd] } = await conn.recvFds({ max: 1 });
    if (how === 'map') {
      const bytes = mapSealed(fd, SIZE);
      closeSync(fd);
      let sum = 0;
      for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i];
      if (sum < 0) throw new Error('unreachable');
    } else {
      readSealed(fd, SIZE);
      closeSync(fd);
    }
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
