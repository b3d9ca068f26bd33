// Process descriptors: pidfd_open(2) (a handle on one process that a reused pid can
// never redirect; it becomes readable when the process exits), pidfd_getfd(2) (a copy
// of one of that process's descriptors, which the kernel grants only to whoever may
// ptrace it: its owner or root) and pidfd_send_signal(2).
import koffi from 'koffi';
import { errnoError } from './errors';

const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long number, ...)');

// One number on every architecture: system calls added since Linux 5.1 share a table.
const SYS_PIDFD_SEND_SIGNAL = 424;
const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;

function check(ret: number, name: string, path?: string): number {
  if (ret < 0) throw errnoError(koffi.errno(), name, path);
  return ret;
}

/** A close-on-exec descriptor for process `pid`. */
export function pidfdOpen(pid: number, path?: string): number {
  return check(Number(syscall(SYS_PIDFD_OPEN, 'int', pid, 'unsigned int', 0)), 'pidfd_open', path);
}

/** A close-on-exec copy of descriptor `targetFd` of the process behind `pidfd` (the same open file, as dup(2) makes). */
export function pidfdGetfd(pidfd: number, targetFd: number, path?: string): number {
  return check(Number(syscall(SYS_PIDFD_GETFD, 'int', pidfd, 'int', targetFd, 'unsigned int', 0)), 'pidfd_getfd', path);
}

/** Send signal `signal` to the process behind `pidfd`. */
export function pidfdSendSignal(pidfd: number, signal: number, path?: string): void {
  check(Number(syscall(SYS_PIDFD_SEND_SIGNAL, 'int', pidfd, 'int', signal, 'void *', null, 'unsigned int', 0)), 'pidfd_send_signal', path);
}
