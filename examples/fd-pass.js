#!/usr/bin/env node
// The core stream API: a server receives a descriptor from a client and uses it.
// The client makes a pipe and sends the server its write end (one cssend record,
// SCM_RIGHTS underneath); the server writes a greeting into it, which the client
// reads from its read end. The server also sees who the client is, from the kernel.
// Run `node examples/fd-pass.js`: it starts the server as a child of itself.
'use strict';
const { fork } = require('node:child_process');
const { closeSync, readSync, writeSync } = require('node:fs');
const { listen, open } = require('..');
const { pipe } = require('../dist/src/sys');

const PATH = '/dev/fdp/local/example-fdpass';

async function server() {
  const listener = await listen(PATH);
  process.send('listening');
  const conn = await listener.accept();
  const { id, fds } = await conn.recvFds({ max: 1 });
  writeSync(fds[0], `hello pid ${id.pid} (uid ${id.uid}), this is the server writing into your pipe\n`);
  closeSync(fds[0]); // received descriptors belong to the receiver
  conn.end();
  listener.close();
}

async function client() {
  const conn = await open(PATH);
  const [r, w] = pipe();
  await conn.sendFds([w]);
  closeSync(w); // the server has its own copy now; closing ours lets the read below see the end
  const buf = Buffer.alloc(256);
  process.stdout.write(buf.toString('utf8', 0, readSync(r, buf)));
  closeSync(r);
  conn.destroy();
}

if (process.argv[2] === 'server') server();
else fork(__filename, ['server']).once('message', () => client().catch((e) => {
  console.error(e);
  process.exit(1);
}));
