#!/usr/bin/env node
// The C-shaped CAPS API, in the order of DragonFly's 2004 announcement: a service
// registers (name, uid, gid); a client connects and puts messages; the service waits
// for each (CAPMS_REQUEST) and replies; the client waits for the replies (CAPMS_REPLY);
// each message then comes back to the service as CAPMS_DISPOSE.
// Run `node examples/caps-c-api.js`: it starts the service as a child of itself.
'use strict';
const { fork } = require('node:child_process');
const cs = require('connect-stream');

const NAME = 'example_upper';
const MESSAGES = ['hello', 'caps over cs'];

function service() {
  // uid = ours, gid = -1 (any); CAPF_USER: only our own uid may connect
  const port = cs.caps_sys_service(NAME, process.geteuid(), -1, 0, cs.CAPF_USER);
  process.send('registered');
  const buf = Buffer.alloc(cs.CAPS_MAXMSG);
  const msgid = cs.capsMsgid();
  const cred = cs.capsCred();
  for (let disposed = 0; disposed < MESSAGES.length;) {
    const n = cs.caps_sys_wait(port, buf, msgid, cred); // blocks in poll(2)
    if (msgid.c_state === cs.CAPMS_REQUEST) {
      const text = buf.toString('utf8', 0, n);
      console.log(`service: request ${msgid.c_id} from pid ${cred.pid} uid ${cred.uid}: "${text}"`);
      cs.caps_sys_reply(port, Buffer.from(text.toUpperCase()), msgid.c_id);
    } else if (msgid.c_state === cs.CAPMS_DISPOSE) {
      console.log(`service: the reply to ${msgid.c_id} was consumed (DISPOSE)`);
      disposed++;
    }
  }
  cs.caps_sys_close(port);
}

function client(child) {
  const port = cs.caps_sys_client(NAME, process.geteuid(), -1, 0, cs.CAPF_USER);
  console.log(`client: the service's generation is ${cs.caps_sys_getgen(port)}`);
  for (const text of MESSAGES) console.log(`client: put "${text}" as ${cs.caps_sys_put(port, Buffer.from(text))}`);
  const buf = Buffer.alloc(cs.CAPS_MAXMSG);
  const msgid = cs.capsMsgid();
  for (let i = 0; i < MESSAGES.length; i++) {
    const n = cs.caps_sys_wait(port, buf, msgid);
    console.log(`client: reply to ${msgid.c_id}: "${buf.toString('utf8', 0, n)}"`);
  }
  child.on('exit', () => cs.caps_sys_close(port));
}

if (process.argv[2] === 'service') service();
else {
  const child = fork(__filename, ['service']);
  child.once('message', () => client(child));
}
