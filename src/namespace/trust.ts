// The trust rules (README "Who may serve a service"): which users may own a
// service's perm directory, socket and record, and serve it, as this process sees it.

/** What a service path says about who may serve it (a MountDir has these fields). */
export interface ServedBy {
  /** `user=U` */
  uid: number | null;
  /** `group=G` */
  gid: number | null;
  /** `trust=U` */
  trust: number | null;
  /** Owner of the launch entry. */
  sid: number | null;
}

/** Who a process is, as the kernel reports it (SO_PEERCRED and /proc alike). */
export interface Identity {
  uid: number;
  gid: number;
  groups: readonly number[];
}

/**
 * True when `uid` may serve `md` for this process: root always; for `user=U` only
 * U; for `trust=U` only U; for `group=G` this process itself (members are told
 * apart by group, see trustedDir and trustedServer); otherwise this process's own
 * user or the owner of the launch entry (who decides what any starter runs anyway).
 */
export function trustedUid(md: ServedBy, uid: number): boolean {
  if (uid === 0) return true;
  if (md.uid !== null) return uid === md.uid;
  if (md.trust !== null) return uid === md.trust;
  return uid === process.geteuid!() || (md.gid === null && uid === md.sid);
}

/** True when a process with identity `id` may serve `md` (a `group` service: any member of its group). */
export function trustedServer(md: ServedBy, id: Identity): boolean {
  if (md.uid === null && md.trust === null && md.gid !== null) {
    return id.uid === 0 || id.gid === md.gid || id.groups.includes(md.gid);
  }
  return trustedUid(md, id.uid);
}

/**
 * True when a perm directory with this owner, group and mode may hold `md`'s server:
 * its owner is trusted, or (`group=G`) it belongs to group G and others cannot write
 * it, which only a member (or root) can arrange.
 */
export function trustedDir(md: ServedBy, st: { uid: number; gid: number; mode: number }): boolean {
  if (trustedUid(md, st.uid)) return true;
  return md.uid === null && md.trust === null && md.gid !== null && st.gid === md.gid && (st.mode & 0o002) === 0;
}
