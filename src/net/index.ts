// Remote streams: tcp/udp paths, hashed ports and their namespace record, peer
// identity and the access handshake, the cs.3 host routines and host status.
export { netOpen, netOpenAsync, type NetOpenOptions, type NetStream } from './open';
export { netCreate, bindNetService, netServerDir, netAccept, acceptNet, admitSync, admitAsync } from './server';
export { netServiceDir } from './service';
export { NetSocket, netConnect } from './socket-stream';
export { NetListener, netListen } from './listener';
export { netPath, isInetSocket } from './netpath';
export { recvDatagram, sendDatagram } from './udp';
export { peerId, socketOwner, type NetId, type Endpoint } from './identity';
export { resolveHost, resolveHostSync, hostsFile, hostAddress } from './hosts';
export { keyFile, readKey, createKeyFile } from './key';
export { csname, csaddr, csntoa, csinet, csfdmax, type InetPath } from './routines';
export { csdaemon } from './daemon';
export { csstat, csnote, statDir, statFreq, statDown, statHosts, type CsStat } from './stat';
export { remoteStart, remoteStartSync, remoteCommand, remoteShell, pickShareHost, liveHosts, expandHosts, type RemoteStartOptions } from './remote';

// values, not getters: see sys/index.ts
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
