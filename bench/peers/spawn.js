// Start-up cost: runs a command to its exit again and again, timing each run.
//   spawn.js COMMAND [ARG...]
'use strict';
const { spawnSync } = require('node:child_process');
const { control, loopTimed } = require('./control');

const [command, ...args] = process.argv.slice(2);

control(loopTimed(() => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status}`);
  return process.hrtime.bigint() - t0;
}));
