// The public API of cs, name by name; the README documents each one. Naming: a cs.3
// or CAPS routine keeps its C name and blocks as the C call does; a routine that
// returns a Promise has a plain camelCase name; any other routine that may wait for a
// peer ends in Sync. The raw pieces under it are in ./low-level.

// Path names and ports (pure)
export { parsePath, formatPath, type CsPath, type CsPathOptions, type Proto } from './path';
export { csport, hashPort } from './port';

// Streams, C-shaped (cs.3)
export { csopen, csrecv, cssend, cspoll, cspath, csclose, type PollRequest, type PollReady } from './open';
export {
  CS_OPEN_READ, CS_OPEN_CREATE, CS_OPEN_AGENT, CS_OPEN_LOCAL, CS_OPEN_MOUNT, CS_OPEN_NOW, CS_OPEN_REMOTE,
  CS_OPEN_SHARE, CS_OPEN_SLAVE, CS_OPEN_TEST, CS_OPEN_TRUST, CS_OPEN_RENDEZVOUS, type CsId,
} from './stream';

// Streams, async
export { open, listen, type OpenOptions, type ListenOptions } from './open';
export { Connection, Listener, type FdOptions } from './stream';
export { NetSocket, NetListener, type NetId } from './net';

// Servers
export { serve, Server, type ServeOptions, type ConnectionHandler, type NetConnectionHandler } from './launch';
export { serveLoop, ServeLoop, type ServeLoopHandlers, type Interest } from './launch';
export { LineReader, MAX_LINE, writeLineSync, errorLine } from './launch';

// More cs.3 stream routines
export { cspipe } from './stream/pipe';
export { csread, cswrite, cspeek, CS_EXACT, CS_LIMIT, CS_LINE, CS_RESTART } from './stream/rw';
export { csping } from './open/ping';
export { cslocal } from './open/local';

// Host routines (cs.3) and the tcp key file
export { csaddr, csname, csntoa, csinet, csfdmax, csdaemon, csnote, csstat, type InetPath, type CsStat } from './net';
export { createKeyFile } from './net';
export { csbind, CS_LOCAL } from './net/bind';
export { csauth } from './net/csauth';
export { csfull } from './net/reverse';
export { csattr } from './net/attr';
export { csvar, CS_VAR_LOCAL, CS_VAR_PROXY, CS_VAR_SHARE, CS_VAR_TRUST } from './namespace/vars';

// The namespace on disk
export { mountRoot } from './namespace/mount';
export { listServices, type ServiceEntry } from './namespace/list';

// CAPS, C-shaped and idiomatic
export {
  caps_sys_service, caps_sys_client, caps_sys_close, caps_sys_put, caps_sys_reply, caps_sys_get, caps_sys_wait,
  caps_sys_abort, caps_sys_setgen, caps_sys_getgen, capsWait, capsAbort, capsMsgid, capsCred, capsPath, capsKeyOfPath,
  CAPMS_REQUEST, CAPMS_REQUEST_RETRY, CAPMS_REPLY, CAPMS_REPLY_RETRY, CAPMS_DISPOSE,
  CAPF_USER, CAPF_GROUP, CAPF_WORLD, CAPF_ANYCLIENT, CAPF_EXCL, CAPF_WAITSVC, CAPF_ABORT_HARD,
  CAPS_ABORT_NOTIMPL, CAPS_ABORT_RETURNED, CAPS_ABORT_BEFORESERVER, CAPS_ABORT_ATSERVER,
  CAPS_MAXGROUPS, CAPS_MAXNAMELEN, CAPS_MAXINPROG, CAPS_MAXMSG, CAPS_MAXFDS,
  caps, CapsService, CapsRequest, CapsClient,
  type CapsServiceOptions, type CapsClientOptions, type CapsReply, type CapsKey, type CapsMsgid, type CapsCred,
} from './caps';

// Node sockets and servers handed between processes
export { adoptSocket, adoptServer, sendSocket, recvSocket, recvServer } from './handoff';
// Payloads in sealed memfds, sent as descriptors
export { sealBytes, readSealed } from './sealed';

// Errors
export { type CsError } from './sys';
