// connect-stream/low-level: the raw pieces under the public API, for proxies that pass
// cs records through unread and for udp servers; name by name, like the root.
export { sendFds as sendmsg, recvFds as recvmsg, closeAll, dup, MAX_FDS_PER_MSG, type Received } from './sys';
export { RECORD_SIZE } from './stream/record';
export { AGAIN } from './io';
export { recvDatagram, sendDatagram, statFreq, type Endpoint } from './net';
