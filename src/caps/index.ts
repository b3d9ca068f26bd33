// CAPS: DragonFly's message-passing API over cs fdp streams, C-shaped and idiomatic.
import { client, service } from './async';

export * from './constants';
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
