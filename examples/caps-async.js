#!/usr/bin/env node
// The idiomatic CAPS API: `caps.service()` is an async iterable of requests, each
// answered with req.reply(); `caps.client()` sends them with `await client.call()`.
// Messages may carry descriptors: here the client hands the service an open file,
// which the service reads through the descriptor (it could not open the path itself
// if it lacked the permission). Run `node examples/caps-async.js`.
'use strict';
const { openSync, readSync, closeSync } = require('node:fs');
const { caps, CAPF_USER } = require('connect-stream');

const NAME = 'example_wc';

/** Count lines and words of the request's text, or of the file whose descriptor came with it. */
function count(req) {
  let text = req.data.toString();
  for (const fd of req.fds) {
    const buf = Buffer.alloc(64 * 1024);
    text += buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0));
    closeSync(fd); // received descriptors are ours to close
  }
  return { lines: text.split('\n').length - 1, words: text.split(/\s+/).filter(Boolean).length };
}

async function main() {
  const service = await caps.service(NAME, { access: CAPF_USER });
  (async () => {
    for await (const req of service) req.reply(Buffer.from(JSON.stringify(count(req))));
  })();

  const client = await caps.client(NAME); // generic lookup: (our uid,-1), (-1,our gid), (0,0)
  const text = await client.call(Buffer.from('one two three\nfour\n'));
  console.log('text:', text.data.toString(), 'answered by pid', text.cred.pid);

  const fd = openSync(__filename, 'r');
  const file = await client.call(Buffer.alloc(0), [fd]);
  closeSync(fd); // the call sent a copy: ours is still ours
  console.log('this file:', file.data.toString());

  const slow = client.call(Buffer.from('x'), [], { signal: AbortSignal.timeout(1) });
  await slow.then(() => console.log('answered within 1 ms'), (e) => console.log('gave up:', e.name));

  client.close();
  service.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
