// fdp streams: the rendezvous, id records and the async Connection/Listener.
export * from './flags';
export { handshakeTimeout } from '../io';
export { Connection, type FdOptions } from './connection';
export { Listener } from './listener';
