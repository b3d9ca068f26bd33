#!/usr/bin/env node
// Ask the bundled lookupd service (CAPS) for users, groups and hosts; cs starts
// lookupd from its launch entry (lib/cs/fdp/lookupd/server) if none is running.
//   node examples/lookupd-client.js getpwnam root
//   node examples/lookupd-client.js gethostbyname localhost
'use strict';
const { caps } = require('connect-stream');

async function main() {
  const request = process.argv.slice(2).join(' ') || 'getpwuid 0';
  const lookupd = await caps.client('lookupd');
  const reply = JSON.parse((await lookupd.call(Buffer.from(request))).data.toString());
  lookupd.close();
  if (reply.error) {
    console.error(`${request}: ${reply.error}: ${reply.message}`);
    process.exit(2);
  }
  console.log(JSON.stringify(reply.ok, null, 2));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
