// The comparisons `npm run bench` makes. Each case names its sides (a client process
// and, mostly, a server process, see peers/), which side is compared with which, and
// the target. `sides(ctx)` is called once per mode; ctx: {dir, tag, quick, fdping, usocket}
// (fdping: the built C reference or {skip}; usocket: null or {skip}).
//   show: 'rate' (unit/s, ratio a/b: higher is better), 'us' or 'ms' (time per op,
//   ratio a/b of times: lower is better; diff: a minus b in ms)
'use strict';
const { join, resolve } = require('node:path');

const peer = (file, ...args) => [process.execPath, join(__dirname, 'peers', file), ...args.map(String)];
const node = (...args) => peer('spawn.js', process.execPath, ...args);
const PACKAGE = resolve(__dirname, '..');
const MiB = 1024 * 1024;

/** A cs fdp path (under the bench's own namespace root) and a socket path for net. */
const fdp = (name, tag) => `/dev/fdp/local/${name}-${tag}`;
const sock = (dir, name, tag) => join(dir, `${name}-${tag}.sock`);
/** A CAPS service name, unique per mode. */
const capsName = (name, tag) => `bench_${name}_${tag}`;

/** client.call() and net u32 request/reply, `window` in flight on each of `conns` connections, against a server each. */
const requestSides = ({ dir, tag }, name, window, conns, suffix = '') => ({
  [`client.call${suffix}`]: { server: peer('cs.js', 'serve-caps', capsName(name, tag)), client: peer('cs.js', 'call', capsName(name, tag), window, conns) },
  [`net u32${suffix}`]: { server: peer('net.js', 'serve-frames', sock(dir, name, tag)), client: peer('net.js', 'frames', sock(dir, name, tag), window, conns) },
});

const bulkSize = (quick) => (quick ? 32 : 256) * MiB;
const burstSize = (quick) => (quick ? [1000, 128] : [5000, 512]);

module.exports = [
  {
    name: 'fdpass',
    title: 'fd round trip, 16 B + 1 fd (net: 16 B and no fd; cs: one 32-byte record with the fd, cssend/csrecv or sendFds/recvFds)',
    show: 'rate',
    unit: 'rt',
    sides: ({ dir, tag, fdping, usocket }) => ({
      'cs sync': { server: peer('cs.js', 'serve-fd-sync', fdp('fd-sync', tag)), client: peer('cs.js', 'fd-sync', fdp('fd-sync', tag)) },
      'cs async': { server: peer('cs.js', 'serve-fd-async', fdp('fd-async', tag)), client: peer('cs.js', 'fd-async', fdp('fd-async', tag)) },
      net: { server: peer('net.js', 'serve-echo', sock(dir, 'echo', tag)), client: peer('net.js', 'bytes', sock(dir, 'echo', tag), 16) },
      C: fdping.skip ? fdping : { server: [fdping.path, 'server', sock(dir, 'c', tag)], client: [fdping.path, 'client', sock(dir, 'c', tag)] },
      usocket: usocket ?? { server: peer('usocket.js', 'serve', sock(dir, 'usocket', tag)), client: peer('usocket.js', 'client', sock(dir, 'usocket', tag)) },
    }),
    compare: [
      { a: 'cs sync', b: 'net', target: '>= 1.0' },
      { a: 'cs async', b: 'net', target: '>= 1.0' },
      { a: 'cs sync', b: 'usocket', target: '>= 1.4' },
      { a: 'cs async', b: 'usocket', target: '>= 1.4' },
      { a: 'cs sync', b: 'C' },
      { a: 'cs async', b: 'C' },
    ],
    cpuTarget: { 'cs sync': 13, 'cs async': 13 },
  },
  {
    name: 'reqrep',
    title: 'request/reply latency, 64 B (net: u32 length prefix)',
    show: 'us',
    unit: 'rt',
    sides: (ctx) => ({
      'caps_sys_put+wait': { server: peer('cs.js', 'serve-caps-sync', capsName('rr_sync', ctx.tag)), client: peer('cs.js', 'caps-sync', capsName('rr_sync', ctx.tag)) },
      ...requestSides(ctx, 'rr', 1, 1),
      'child_process IPC': { client: peer('ipc.js', 1) },
    }),
    compare: [
      { a: 'caps_sys_put+wait', b: 'net u32' },
      { a: 'client.call', b: 'net u32', target: '<= 1.1' },
      { a: 'client.call', b: 'child_process IPC' },
    ],
  },
  {
    name: 'pipelined',
    title: 'pipelined 64 B requests, window 128',
    show: 'rate',
    unit: 'msg',
    sides: (ctx) => ({
      ...requestSides(ctx, 'pipe', 128, 1),
      'child_process IPC': { client: peer('ipc.js', 128) },
    }),
    compare: [
      { a: 'client.call', b: 'net u32', target: '>= 1.0' },
      { a: 'client.call', b: 'child_process IPC' },
    ],
  },
  {
    name: 'clients',
    title: 'N clients (connections of one client process) of one service, 64 B request/reply each: total',
    show: 'rate',
    unit: 'msg',
    sides: (ctx) => Object.assign({}, ...[4, 16, 64].map((n) => requestSides(ctx, `c${n}`, 1, n, ` x${n}`))),
    compare: [4, 16, 64].map((n) => ({ a: `client.call x${n}`, b: `net u32 x${n}`, target: '>= 0.9' })),
  },
  {
    name: 'connect',
    title: 'connect + handshake + close (net: connect to the first byte from the server)',
    show: 'us',
    unit: 'open',
    sides: ({ dir, tag }) => ({
      'open()': { server: peer('cs.js', 'serve-accept', fdp('acc-open', tag)), client: peer('cs.js', 'open', fdp('acc-open', tag)) },
      csopen: { server: peer('cs.js', 'serve-accept', fdp('acc-csopen', tag)), client: peer('cs.js', 'csopen', fdp('acc-csopen', tag)) },
      'net.connect': { server: peer('net.js', 'serve-greet', sock(dir, 'greet', tag)), client: peer('net.js', 'connect', sock(dir, 'greet', tag)) },
    }),
    compare: [
      { a: 'open()', b: 'net.connect', target: '<= 1.3' },
      { a: 'csopen', b: 'net.connect', target: '<= 1.3' },
    ],
  },
  {
    name: 'burst',
    title: 'many opens at once (quick: 1000, 128 in flight; else 5000, 512 in flight), one burst per mode',
    show: 'rate',
    unit: 'open',
    rounds: 1,
    warm: false,
    sides: ({ dir, tag, quick }) => ({
      'open()': { server: peer('cs.js', 'serve-accept', fdp('burst', tag)), client: peer('cs.js', 'burst', fdp('burst', tag), ...burstSize(quick)) },
      'net.connect': { server: peer('net.js', 'serve-greet', sock(dir, 'burst', tag)), client: peer('net.js', 'burst', sock(dir, 'burst', tag), ...burstSize(quick)) },
    }),
    compare: [{ a: 'open()', b: 'net.connect' }],
    failuresTarget: 0,
  },
  {
    name: 'require',
    title: 'a process that requires the package, to its exit',
    show: 'ms',
    unit: 'run',
    sides: () => ({
      'require(cs)': { client: node('-e', `require(${JSON.stringify(PACKAGE)})`) },
      'node -e 0': { client: node('-e', '0') },
    }),
    compare: [{ a: 'require(cs)', b: 'node -e 0', diff: true, target: '<= 15' }],
  },
  {
    name: 'autostart',
    title: 'csopen of the stopped bundled echo to its first echoed byte',
    show: 'ms',
    unit: 'start',
    sides: ({ dir }) => ({
      'auto-start echo': { client: peer('cs.js', 'autostart', dir) },
      'node -e 0': { client: node('-e', '0') },
    }),
    compare: [{ a: 'auto-start echo', b: 'node -e 0', diff: true, target: '<= 25' }],
  },
  {
    name: 'bulk',
    title: 'bulk bytes one way (quick: 32 MiB, else 256 MiB per op), then a one-byte ack',
    show: 'rate',
    unit: 'MiB',
    perOp: (quick) => bulkSize(quick) / MiB,
    sides: ({ tag, dir, quick }) => ({
      Connection: { server: peer('cs.js', 'serve-sink', fdp('sink', tag), bulkSize(quick)), client: peer('cs.js', 'bulk', fdp('sink', tag), bulkSize(quick)) },
      net: { server: peer('net.js', 'serve-sink', sock(dir, 'sink', tag), bulkSize(quick)), client: peer('net.js', 'bulk', sock(dir, 'sink', tag), bulkSize(quick)) },
    }),
    compare: [{ a: 'Connection', b: 'net', target: '>= 0.95' }],
  },
  {
    name: 'handoff',
    title: 'accepted TCP connection handed to a worker process, connect to its first byte (sendSocket vs subprocess.send)',
    show: 'rate',
    unit: 'conn',
    sides: ({ tag }) => ({
      sendSocket: { server: peer('handoff.js', 'serve', fdp('handoff', tag)), client: peer('handoff.js', 'cs', fdp('handoff', tag)) },
      'subprocess.send': { client: peer('handoff.js', 'ipc') },
    }),
    compare: [{ a: 'sendSocket', b: 'subprocess.send', target: '>= 1.0' }],
  },
  {
    name: 'sealed',
    title: '64 MiB one way then a one-byte ack: a sealed memfd the receiver reads whole, or maps, vs the bytes through net',
    show: 'ms',
    unit: 'msg',
    sides: ({ tag, dir }) => ({
      'sealed memfd': { server: peer('sealed.js', 'serve', fdp('sealed', tag), 64 * MiB), client: peer('sealed.js', 'send', fdp('sealed', tag), 64 * MiB) },
      'sealed, mapped': { server: peer('sealed.js', 'serve', fdp('sealedmap', tag), 64 * MiB, 'map'), client: peer('sealed.js', 'send', fdp('sealedmap', tag), 64 * MiB) },
      net: { server: peer('net.js', 'serve-sink', sock(dir, 'sealed', tag), 64 * MiB), client: peer('net.js', 'bulk', sock(dir, 'sealed', tag), 64 * MiB) },
    }),
    compare: [{ a: 'sealed memfd', b: 'net' }, { a: 'sealed, mapped', b: 'net' }],
  },
  {
    name: 'capslarge',
    title: '64 MiB CAPS request (in a sealed memfd) and a one-byte reply vs the bytes through net then a one-byte ack',
    show: 'ms',
    unit: 'msg',
    sides: ({ tag, dir }) => ({
      'client.call 64 MiB': { server: peer('cs.js', 'serve-caps-ack', capsName('large', tag)), client: peer('cs.js', 'call-large', capsName('large', tag), 64 * MiB) },
      net: { server: peer('net.js', 'serve-sink', sock(dir, 'capslarge', tag), 64 * MiB), client: peer('net.js', 'bulk', sock(dir, 'capslarge', tag), 64 * MiB) },
    }),
    compare: [{ a: 'client.call 64 MiB', b: 'net' }],
  },
  {
    name: 'ffi',
    title: 'one trivial libc call (why the system-call layer uses koffi)',
    show: 'rate',
    unit: 'call',
    sides: () => ({
      koffi: { client: peer('ffi.js', 'koffi') },
      'ffi-rs': { client: peer('ffi.js', 'ffi-rs') },
    }),
    compare: [{ a: 'koffi', b: 'ffi-rs' }],
  },
];
