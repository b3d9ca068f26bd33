// The public API of cs, name by name; the README documents each one. Naming: a cs.3
// or CAPS routine keeps its C name and blocks as the C call does; a routine that
// returns a Promise has a plain camelCase name; any other routine that may wait for a
// peer ends in Sync. The raw pieces under it are in ./low-level.
//
// Each value is declared here with its type and defined by exportOnUse: requiring
// the package loads no module, reading a name loads the module that owns it (and
// what that module needs), so a process pays only for the paths it uses.
import { exportOnUse } from './exports';
import type * as path from './path';
import type * as port from './port';
import type * as api from './open/api';
import type * as async from './open/async';
import type * as flags from './stream/flags';
import type * as connection from './stream/connection';
import type * as listener from './stream/listener';
import type * as netStream from './net/socket-stream';
import type * as netListener from './net/listener';
import type * as serveM from './launch/serve';
import type * as loop from './launch/loop';
import type * as lines from './launch/lines';
import type * as pipe from './stream/pipe';
import type * as rw from './stream/rw';
import type * as ping from './open/ping';
import type * as local from './open/local';
import type * as routines from './net/routines';
import type * as daemon from './net/daemon';
import type * as stat from './net/stat';
import type * as key from './net/key';
import type * as bind from './net/bind';
import type * as csauthM from './net/csauth';
import type * as reverse from './net/reverse';
import type * as attr from './net/attr';
import type * as vars from './namespace/vars';
import type * as mount from './namespace/mount';
import type * as list from './namespace/list';
import type * as capsConstants from './caps/constants';
import type * as capsApi from './caps/api';
import type * as capsIndex from './caps';
import type * as handoff from './handoff';
import type * as sealed from './sealed';

// Path names and ports (pure)
export let parsePath: typeof path.parsePath, formatPath: typeof path.formatPath;
export { type CsPath, type CsPathOptions, type Proto } from './path';
exportOnUse(exports, () => require('./path') as typeof path, ['parsePath', 'formatPath']);
export let csport: typeof port.csport, hashPort: typeof port.hashPort;
exportOnUse(exports, () => require('./port') as typeof port, ['csport', 'hashPort']);

// Streams, C-shaped (cs.3)
export let csopen: typeof api.csopen, csrecv: typeof api.csrecv, cssend: typeof api.cssend, cspoll: typeof api.cspoll,
  cspath: typeof api.cspath, csclose: typeof api.csclose;
export { type PollRequest, type PollReady } from './open/api';
exportOnUse(exports, () => require('./open/api') as typeof api, ['csopen', 'csrecv', 'cssend', 'cspoll', 'cspath', 'csclose']);
export let CS_OPEN_READ: typeof flags.CS_OPEN_READ, CS_OPEN_CREATE: typeof flags.CS_OPEN_CREATE,
  CS_OPEN_AGENT: typeof flags.CS_OPEN_AGENT, CS_OPEN_LOCAL: typeof flags.CS_OPEN_LOCAL, CS_OPEN_MOUNT: typeof flags.CS_OPEN_MOUNT,
  CS_OPEN_NOW: typeof flags.CS_OPEN_NOW, CS_OPEN_REMOTE: typeof flags.CS_OPEN_REMOTE, CS_OPEN_SHARE: typeof flags.CS_OPEN_SHARE,
  CS_OPEN_SLAVE: typeof flags.CS_OPEN_SLAVE, CS_OPEN_TEST: typeof flags.CS_OPEN_TEST, CS_OPEN_TRUST: typeof flags.CS_OPEN_TRUST,
  CS_OPEN_RENDEZVOUS: typeof flags.CS_OPEN_RENDEZVOUS;
export { type CsId } from './stream/flags';
exportOnUse(exports, () => require('./stream/flags') as typeof flags, [
  'CS_OPEN_READ', 'CS_OPEN_CREATE', 'CS_OPEN_AGENT', 'CS_OPEN_LOCAL', 'CS_OPEN_MOUNT', 'CS_OPEN_NOW', 'CS_OPEN_REMOTE',
  'CS_OPEN_SHARE', 'CS_OPEN_SLAVE', 'CS_OPEN_TEST', 'CS_OPEN_TRUST', 'CS_OPEN_RENDEZVOUS',
]);

// Streams, async
export let open: typeof async.open, listen: typeof async.listen;
export { type OpenOptions, type ListenOptions } from './open/async';
exportOnUse(exports, () => require('./open/async') as typeof async, ['open', 'listen']);
export let Connection: typeof connection.Connection;
export type Connection = connection.Connection;
export { type FdOptions } from './stream/connection';
exportOnUse(exports, () => require('./stream/connection') as typeof connection, ['Connection']);
export let Listener: typeof listener.Listener;
export type Listener = listener.Listener;
exportOnUse(exports, () => require('./stream/listener') as typeof listener, ['Listener']);
export let NetSocket: typeof netStream.NetSocket;
export type NetSocket = netStream.NetSocket;
exportOnUse(exports, () => require('./net/socket-stream') as typeof netStream, ['NetSocket']);
export let NetListener: typeof netListener.NetListener;
export type NetListener = netListener.NetListener;
exportOnUse(exports, () => require('./net/listener') as typeof netListener, ['NetListener']);
export { type NetId } from './net/identity';

// Servers
export let serve: typeof serveM.serve, Server: typeof serveM.Server;
export type Server = serveM.Server;
export { type ServeOptions, type ConnectionHandler, type NetConnectionHandler } from './launch/serve';
exportOnUse(exports, () => require('./launch/serve') as typeof serveM, ['serve', 'Server']);
export let serveLoop: typeof loop.serveLoop, ServeLoop: typeof loop.ServeLoop;
export type ServeLoop = loop.ServeLoop;
export { type ServeLoopHandlers, type Interest } from './launch/loop';
exportOnUse(exports, () => require('./launch/loop') as typeof loop, ['serveLoop', 'ServeLoop']);
export let LineReader: typeof lines.LineReader, MAX_LINE: typeof lines.MAX_LINE, writeLineSync: typeof lines.writeLineSync,
  errorLine: typeof lines.errorLine;
export type LineReader = lines.LineReader;
exportOnUse(exports, () => require('./launch/lines') as typeof lines, ['LineReader', 'MAX_LINE', 'writeLineSync', 'errorLine']);

// More cs.3 stream routines
export let cspipe: typeof pipe.cspipe;
exportOnUse(exports, () => require('./stream/pipe') as typeof pipe, ['cspipe']);
export let csread: typeof rw.csread, cswrite: typeof rw.cswrite, cspeek: typeof rw.cspeek, CS_EXACT: typeof rw.CS_EXACT,
  CS_LIMIT: typeof rw.CS_LIMIT, CS_LINE: typeof rw.CS_LINE, CS_RESTART: typeof rw.CS_RESTART;
exportOnUse(exports, () => require('./stream/rw') as typeof rw, ['csread', 'cswrite', 'cspeek', 'CS_EXACT', 'CS_LIMIT', 'CS_LINE', 'CS_RESTART']);
export let csping: typeof ping.csping;
exportOnUse(exports, () => require('./open/ping') as typeof ping, ['csping']);
export let cslocal: typeof local.cslocal;
exportOnUse(exports, () => require('./open/local') as typeof local, ['cslocal']);

// Host routines (cs.3) and the tcp key file
export let csaddr: typeof routines.csaddr, csname: typeof routines.csname, csntoa: typeof routines.csntoa,
  csinet: typeof routines.csinet, csfdmax: typeof routines.csfdmax;
export { type InetPath } from './net/routines';
exportOnUse(exports, () => require('./net/routines') as typeof routines, ['csaddr', 'csname', 'csntoa', 'csinet', 'csfdmax']);
export let csdaemon: typeof daemon.csdaemon;
exportOnUse(exports, () => require('./net/daemon') as typeof daemon, ['csdaemon']);
export let csnote: typeof stat.csnote, csstat: typeof stat.csstat;
export { type CsStat } from './net/stat';
exportOnUse(exports, () => require('./net/stat') as typeof stat, ['csnote', 'csstat']);
export let createKeyFile: typeof key.createKeyFile;
exportOnUse(exports, () => require('./net/key') as typeof key, ['createKeyFile']);
export let csbind: typeof bind.csbind, CS_LOCAL: typeof bind.CS_LOCAL;
exportOnUse(exports, () => require('./net/bind') as typeof bind, ['csbind', 'CS_LOCAL']);
export let csauth: typeof csauthM.csauth;
exportOnUse(exports, () => require('./net/csauth') as typeof csauthM, ['csauth']);
export let csfull: typeof reverse.csfull;
exportOnUse(exports, () => require('./net/reverse') as typeof reverse, ['csfull']);
export let csattr: typeof attr.csattr;
exportOnUse(exports, () => require('./net/attr') as typeof attr, ['csattr']);
export let csvar: typeof vars.csvar, CS_VAR_LOCAL: typeof vars.CS_VAR_LOCAL, CS_VAR_PROXY: typeof vars.CS_VAR_PROXY,
  CS_VAR_SHARE: typeof vars.CS_VAR_SHARE, CS_VAR_TRUST: typeof vars.CS_VAR_TRUST;
exportOnUse(exports, () => require('./namespace/vars') as typeof vars, ['csvar', 'CS_VAR_LOCAL', 'CS_VAR_PROXY', 'CS_VAR_SHARE', 'CS_VAR_TRUST']);

// The namespace on disk
export let mountRoot: typeof mount.mountRoot;
exportOnUse(exports, () => require('./namespace/mount') as typeof mount, ['mountRoot']);
export let listServices: typeof list.listServices;
export { type ServiceEntry } from './namespace/list';
exportOnUse(exports, () => require('./namespace/list') as typeof list, ['listServices']);

// CAPS, C-shaped and idiomatic
export let CAPMS_REQUEST: typeof capsConstants.CAPMS_REQUEST, CAPMS_REQUEST_RETRY: typeof capsConstants.CAPMS_REQUEST_RETRY,
  CAPMS_REPLY: typeof capsConstants.CAPMS_REPLY, CAPMS_REPLY_RETRY: typeof capsConstants.CAPMS_REPLY_RETRY,
  CAPMS_DISPOSE: typeof capsConstants.CAPMS_DISPOSE, CAPF_USER: typeof capsConstants.CAPF_USER,
  CAPF_GROUP: typeof capsConstants.CAPF_GROUP, CAPF_WORLD: typeof capsConstants.CAPF_WORLD,
  CAPF_ANYCLIENT: typeof capsConstants.CAPF_ANYCLIENT, CAPF_EXCL: typeof capsConstants.CAPF_EXCL,
  CAPF_WAITSVC: typeof capsConstants.CAPF_WAITSVC, CAPF_ABORT_HARD: typeof capsConstants.CAPF_ABORT_HARD,
  CAPS_ABORT_NOTIMPL: typeof capsConstants.CAPS_ABORT_NOTIMPL, CAPS_ABORT_RETURNED: typeof capsConstants.CAPS_ABORT_RETURNED,
  CAPS_ABORT_BEFORESERVER: typeof capsConstants.CAPS_ABORT_BEFORESERVER,
  CAPS_ABORT_ATSERVER: typeof capsConstants.CAPS_ABORT_ATSERVER, CAPS_MAXGROUPS: typeof capsConstants.CAPS_MAXGROUPS,
  CAPS_MAXNAMELEN: typeof capsConstants.CAPS_MAXNAMELEN, CAPS_MAXINPROG: typeof capsConstants.CAPS_MAXINPROG,
  CAPS_MAXMSG: typeof capsConstants.CAPS_MAXMSG, CAPS_MAXLARGEMSG: typeof capsConstants.CAPS_MAXLARGEMSG,
  CAPS_MAXLARGE: typeof capsConstants.CAPS_MAXLARGE, CAPS_MAXFDS: typeof capsConstants.CAPS_MAXFDS,
  capsMsgid: typeof capsConstants.capsMsgid, capsCred: typeof capsConstants.capsCred;
export { type CapsMsgid, type CapsCred } from './caps/constants';
exportOnUse(exports, () => require('./caps/constants') as typeof capsConstants, [
  'CAPMS_REQUEST', 'CAPMS_REQUEST_RETRY', 'CAPMS_REPLY', 'CAPMS_REPLY_RETRY', 'CAPMS_DISPOSE',
  'CAPF_USER', 'CAPF_GROUP', 'CAPF_WORLD', 'CAPF_ANYCLIENT', 'CAPF_EXCL', 'CAPF_WAITSVC', 'CAPF_ABORT_HARD',
  'CAPS_ABORT_NOTIMPL', 'CAPS_ABORT_RETURNED', 'CAPS_ABORT_BEFORESERVER', 'CAPS_ABORT_ATSERVER',
  'CAPS_MAXGROUPS', 'CAPS_MAXNAMELEN', 'CAPS_MAXINPROG', 'CAPS_MAXMSG', 'CAPS_MAXLARGEMSG', 'CAPS_MAXLARGE', 'CAPS_MAXFDS',
  'capsMsgid', 'capsCred',
]);
export let caps_sys_service: typeof capsApi.caps_sys_service, caps_sys_client: typeof capsApi.caps_sys_client,
  caps_sys_close: typeof capsApi.caps_sys_close, caps_sys_put: typeof capsApi.caps_sys_put,
  caps_sys_reply: typeof capsApi.caps_sys_reply, caps_sys_get: typeof capsApi.caps_sys_get,
  caps_sys_wait: typeof capsApi.caps_sys_wait, caps_sys_abort: typeof capsApi.caps_sys_abort,
  caps_sys_setgen: typeof capsApi.caps_sys_setgen, caps_sys_getgen: typeof capsApi.caps_sys_getgen,
  capsWait: typeof capsApi.capsWait, capsAbort: typeof capsApi.capsAbort;
exportOnUse(exports, () => require('./caps/api') as typeof capsApi, [
  'caps_sys_service', 'caps_sys_client', 'caps_sys_close', 'caps_sys_put', 'caps_sys_reply', 'caps_sys_get', 'caps_sys_wait',
  'caps_sys_abort', 'caps_sys_setgen', 'caps_sys_getgen', 'capsWait', 'capsAbort',
]);
export let capsPath: typeof capsIndex.capsPath, capsKeyOfPath: typeof capsIndex.capsKeyOfPath, caps: typeof capsIndex.caps,
  CapsService: typeof capsIndex.CapsService, CapsRequest: typeof capsIndex.CapsRequest, CapsClient: typeof capsIndex.CapsClient;
export type CapsService = capsIndex.CapsService;
export type CapsRequest = capsIndex.CapsRequest;
export type CapsClient = capsIndex.CapsClient;
export { type CapsServiceOptions, type CapsClientOptions, type CapsReply, type CapsKey } from './caps';
exportOnUse(exports, () => require('./caps') as typeof capsIndex, ['capsPath', 'capsKeyOfPath', 'caps', 'CapsService', 'CapsRequest', 'CapsClient']);

// Node sockets and servers handed between processes
export let adoptSocket: typeof handoff.adoptSocket, adoptServer: typeof handoff.adoptServer, sendSocket: typeof handoff.sendSocket,
  recvSocket: typeof handoff.recvSocket, recvServer: typeof handoff.recvServer;
exportOnUse(exports, () => require('./handoff') as typeof handoff, ['adoptSocket', 'adoptServer', 'sendSocket', 'recvSocket', 'recvServer']);
// Payloads in sealed memfds, sent as descriptors
export let sealBytes: typeof sealed.sealBytes, readSealed: typeof sealed.readSealed, mapSealed: typeof sealed.mapSealed,
  sendSealed: typeof sealed.sendSealed, recvSealed: typeof sealed.recvSealed;
exportOnUse(exports, () => require('./sealed') as typeof sealed, ['sealBytes', 'readSealed', 'mapSealed', 'sendSealed', 'recvSealed']);

// Errors
export { type CsError } from './sys/errors';
