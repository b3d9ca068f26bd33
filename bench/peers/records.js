// A cs server for the bench peers that take one cssend record after another: listens
// on PATH, prints "ready", and runs `onRecord(conn)` in a loop on each connection
// until it fails (the client went away).
'use strict';
const { listen } = require('../..');

async function serveRecords(path, onRecord) {
  const listener = await listen(path);
  console.log('ready');
  for await (const conn of listener) {
    (async () => {
      for (;;) await onRecord(conn);
    })().catch(() => conn.destroy());
  }
}

module.exports = { serveRecords };
