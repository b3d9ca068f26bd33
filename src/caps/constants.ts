// The CAPS constants with DragonFly's values (sys/caps.h), the limits, and the
// shapes of caps_msgid and caps_cred as this API fills them in.

/** Message states, as get/wait report them in msgid.c_state. */
export const CAPMS_REQUEST = 0;
export const CAPMS_REQUEST_RETRY = 1;
export const CAPMS_REPLY = 2;
export const CAPMS_REPLY_RETRY = 3;
export const CAPMS_DISPOSE = 4;

/** Which clients a service admits (and by which rule a client asks to be admitted). */
export const CAPF_USER = 0x0001;
export const CAPF_GROUP = 0x0002;
export const CAPF_WORLD = 0x0004;
export const CAPF_ANYCLIENT = CAPF_USER | CAPF_GROUP | CAPF_WORLD;
/** caps_sys_service: fail with EEXIST when a matching service is registered. */
export const CAPF_EXCL = 0x0008;
/** caps_sys_client: wait for the service to be registered instead of failing with ENOENT. */
export const CAPF_WAITSVC = 0x0040;

/** caps_sys_abort flag: give the client its (empty) reply at once even if the service has the message. */
export const CAPF_ABORT_HARD = 0x0001;

/** caps_sys_abort results. */
export const CAPS_ABORT_NOTIMPL = 0;
export const CAPS_ABORT_RETURNED = 1;
export const CAPS_ABORT_BEFORESERVER = 2;
export const CAPS_ABORT_ATSERVER = 3;

export const CAPS_MAXGROUPS = 16;
/** Bytes of a name including its terminating NUL in C: names are 1..63 bytes. */
export const CAPS_MAXNAMELEN = 64;
/** Unreplied messages one client port may have; the next put fails with ENOBUFS. */
export const CAPS_MAXINPROG = 128;
/** The largest message (request or reply) carried inline in its frame; larger ones travel in a sealed memfd. */
export const CAPS_MAXMSG = 128 * 1024;
/** The default ceiling on a message in a sealed memfd; $CS_CAPS_MAXMSG sets another. */
export const CAPS_MAXLARGEMSG = 64 * 1024 * 1024;
/** Requests in sealed memfds one client port may have unreplied; the next large put is ENOBUFS. */
export const CAPS_MAXLARGE = 4;
/** The most descriptors one message carries (Linux's SCM_MAX_FD). */
export const CAPS_MAXFDS = 253;

/** Filled in by caps_sys_get/caps_sys_wait. */
export interface CapsMsgid {
  c_id: bigint;
  c_state: number;
  /** Descriptors that came with the message; the caller owns them (empty when the message stayed queued). */
  fds: number[];
}

/**
 * Who sent a message: the process that wrote it, as the kernel stamped it (SCM_CREDENTIALS);
 * groups are the connection's (SO_PEERGROUPS) when that process has its uid and gid, else empty.
 */
export interface CapsCred {
  pid: number;
  uid: number;
  euid: number;
  gid: number;
  /** Supplementary groups, at most CAPS_MAXGROUPS. */
  groups: number[];
}

/** A fresh caps_msgid to pass to get/wait. */
export function capsMsgid(): CapsMsgid {
  return { c_id: 0n, c_state: -1, fds: [] };
}

/** A fresh caps_cred to pass to get/wait. */
export function capsCred(): CapsCred {
  return { pid: 0, uid: 0, euid: 0, gid: 0, groups: [] };
}
