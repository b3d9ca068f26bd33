// fdp streams: the rendezvous, id records and the async Connection/Listener.
export {
  CS_OPEN_READ, CS_OPEN_CREATE, CS_OPEN_AGENT, CS_OPEN_LOCAL, CS_OPEN_MOUNT, CS_OPEN_NOW, CS_OPEN_REMOTE,
  CS_OPEN_SHARE, CS_OPEN_SLAVE, CS_OPEN_TEST, CS_OPEN_TRUST, CS_OPEN_RENDEZVOUS, BACKLOG, type CsId,
} from './flags';
export { handshakeTimeout } from '../io';
export { Connection, type FdOptions } from './connection';
export { Listener } from './listener';

// values, not getters: see sys/index.ts
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
