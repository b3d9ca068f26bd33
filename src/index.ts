// The public API of cs.
export * from './stream';
export * from './open';
export * from './launch';
export * from './net';
export * from './caps';
export { parsePath, formatPath, type CsPath, type CsPathOptions, type Proto } from './path';
export { csport, hashPort } from './port';
export { mountRoot, listServices, recordedServer, type ServiceEntry } from './namespace';
// Low level: one sendmsg/recvmsg with descriptors, for proxies that pass records through unread,
// and dup for handing a copy of a descriptor to ServeLoop.send/sendRecord, which take theirs over.
export { sendFds, recvFds, closeAll, dup, MAX_FDS_PER_MSG, type Received, type CsError } from './sys';
export { RECORD_SIZE } from './stream/record';
