// Streams: the C-shaped API of cs.3 and the async Connection/Listener.
export * from './flags';
export { handshakeTimeout } from '../io';
export { csopen, csrecv, cssend, cspoll, cspath, csclose, type PollRequest, type PollReady } from './api';
export { open, listen, type OpenOptions } from './async';
export { Connection, type FdOptions } from './connection';
export { Listener } from './listener';
