// csopen() flags, with libcs's values so code ported from C keeps its numbers.
export const CS_OPEN_READ = 0;
export const CS_OPEN_CREATE = 1;
export const CS_OPEN_AGENT = 1 << 1;
export const CS_OPEN_LOCAL = 1 << 2;
export const CS_OPEN_MOUNT = 1 << 3;
export const CS_OPEN_NOW = 1 << 4;
export const CS_OPEN_REMOTE = 1 << 5;
export const CS_OPEN_SHARE = 1 << 6;
export const CS_OPEN_SLAVE = 1 << 7;
export const CS_OPEN_TEST = 1 << 8;
export const CS_OPEN_TRUST = 1 << 9;
/** cs's own: a `unix:` path's server speaks the cs rendezvous (namespace paths always do). */
export const CS_OPEN_RENDEZVOUS = 1 << 16;

/** The identity of a peer, as the kernel reports it (never as the peer claims it). */
export interface CsId {
  /** 0 for a local peer; the peer's IPv4 address as a number for a remote one. */
  hid: number;
  pid: number;
  uid: number;
  gid: number;
  groups: number[];
}

/** Listen backlog (the kernel caps it at net.core.somaxconn): room for a burst of clients that connect at once. */
export const BACKLOG = 4096;
