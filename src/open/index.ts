// Opening a path: resolve it, connect to fdp or tcp/udp, start the service when
// nobody answers. The C-shaped API of cs.3 and the async open()/listen().
export { csopen, csrecv, cssend, cspoll, cspath, csclose, type PollRequest, type PollReady } from './api';
export { open, listen, type OpenOptions, type ListenOptions } from './async';

// values, not getters: see sys/index.ts
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
