// CAPS: DragonFly's message-passing API over cs fdp streams, C-shaped and idiomatic.
import { client, service } from './async';

export {
  CAPMS_REQUEST, CAPMS_REQUEST_RETRY, CAPMS_REPLY, CAPMS_REPLY_RETRY, CAPMS_DISPOSE,
  CAPF_USER, CAPF_GROUP, CAPF_WORLD, CAPF_ANYCLIENT, CAPF_EXCL, CAPF_WAITSVC, CAPF_ABORT_HARD,
  CAPS_ABORT_NOTIMPL, CAPS_ABORT_RETURNED, CAPS_ABORT_BEFORESERVER, CAPS_ABORT_ATSERVER,
  CAPS_MAXGROUPS, CAPS_MAXNAMELEN, CAPS_MAXINPROG, CAPS_MAXMSG, CAPS_MAXLARGEMSG, CAPS_MAXLARGE, CAPS_MAXFDS,
  capsMsgid, capsCred, type CapsMsgid, type CapsCred,
} from './constants';
export {
  caps_sys_service, caps_sys_client, caps_sys_close, caps_sys_put, caps_sys_reply, caps_sys_get, caps_sys_wait,
  caps_sys_abort, caps_sys_setgen, caps_sys_getgen, capsWait, capsAbort,
} from './api';
export { keyPath as capsPath, keyOfPath as capsKeyOfPath, type CapsKey } from './key';
export {
  CapsService, CapsRequest, CapsClient,
  type CapsServiceOptions, type CapsClientOptions, type CapsReply,
} from './async';

/** The idiomatic entry points: `await caps.service(name)`, `await caps.client(name)`. */
export const caps = { service, client };
