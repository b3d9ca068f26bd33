// child_process IPC (process.send), the peer a Node user reaches for between a parent
// and its child: the client forks its own echo child and counts it as its server.
//   ipc.js WINDOW     64-byte messages, WINDOW in flight
'use strict';
const { fork } = require('node:child_process');
const { control, loopAsync } = require('./control');

if (process.argv[2] === 'serve') {
  process.on('message', (m) => process.send(m));
  process.send('ready');
} else {
  const child = fork(__filename, ['serve'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const waiting = [];
  const text = 'q'.repeat(64);
  child.once('message', () => {
    child.on('message', () => waiting.shift()());
    const call = () => new Promise((resolve) => {
      waiting.push(resolve);
      child.send(text);
    });
    control(loopAsync([call], Number(process.argv[2])), [child.pid]);
  });
}
