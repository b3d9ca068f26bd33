// The public API of cs.
export * from './stream';
export * from './open';
export * from './launch';
export * from './net';
export * from './caps';
// Node sockets and servers handed between processes.
export { adoptSocket, adoptServer, sendSocket, recvSocket, recvServer } from './handoff';
// Payloads in sealed memfds, sent as descriptors.
export { sealBytes, readSealed } from './sealed';
export { parsePath, formatPath, type CsPath, type CsPathOptions, type Proto } from './path';
export { csport, hashPort } from './port';
export { mountRoot, listServices, recordedServer, type ServiceEntry } from './namespace';
export { csvar, CS_VAR_LOCAL, CS_VAR_PROXY, CS_VAR_SHARE, CS_VAR_TRUST } from './namespace/vars';
export { cspipe } from './stream/pipe';
export { csread, cswrite, cspeek, CS_EXACT, CS_LIMIT, CS_LINE, CS_RESTART } from './stream/rw';
export { csping } from './open/ping';
export { cslocal } from './open/local';
export { csbind, CS_LOCAL } from './net/bind';
export { csauth } from './net/csauth';
export { csfull } from './net/reverse';
export { csattr } from './net/attr';
// Low level: one sendmsg/recvmsg with descriptors, for proxies that pass records through unread,
// and dup for handing a copy of a descriptor to CsServer.send/sendRecord, which take theirs over.
export { sendFds, recvFds, closeAll, dup, MAX_FDS_PER_MSG, type Received, type CsError } from './sys';
export { RECORD_SIZE } from './stream/record';
