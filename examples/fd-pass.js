#!/usr/bin/env node
// The core stream API: a server receives a descriptor from a client and uses it.
// The client opens a file, removes its name and sends the server the descriptor
// (one cssend record, SCM_RIGHTS underneath); the server, which could not find the
// file by any name, writes a greeting into it, which the client then reads. The
// server also sees who the client is, from the kernel.
// Run `node examples/fd-pass.js`: it starts the server as a child of itself.
'use strict';
const { fork } = require('node:child_process');
const { once } = require('node:events');
const { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { listen, open } = require('connect-stream');

const PATH = '/dev/fdp/local/example-fdpass';

async function server() {
  const listener = await listen(PATH);
  process.send('listening');
  const conn = await listener.accept();
  const { id, fds } = await conn.recvFds({ max: 1 });
  writeSync(fds[0], `hello pid ${id.pid} (uid ${id.uid}), this is the server writing into your nameless file\n`);
  closeSync(fds[0]); // received descriptors belong to the receiver
  conn.end();
  listener.close();
}

async function client() {
  const conn = await open(PATH);
  const dir = mkdtempSync(join(tmpdir(), 'fd-pass-'));
  const fd = openSync(join(dir, 'note'), 'w+');
  rmSync(dir, { recursive: true }); // from now on the file is reachable only through fd
  await conn.sendFds([fd]);
  await once(conn.resume(), 'end'); // the server hangs up once it has written
  const buf = Buffer.alloc(256);
  process.stdout.write(buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0)));
  closeSync(fd);
  conn.destroy();
}

if (process.argv[2] === 'server') server();
else fork(__filename, ['server']).once('message', () => client().catch((e) => {
  console.error(e);
  process.exit(1);
}));
