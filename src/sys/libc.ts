// The libc functions cs needs, bound through koffi, each wrapped to throw a
// Node-style error. Nothing outside src/sys may import koffi. koffi is loaded, and
// each function declared to it, on first use: a process pays only for what it calls.
import type * as Koffi from 'koffi';
import { errnoError } from './errors';
import { ffi } from './ffi';

let libcHandle: Koffi.LibraryHandle | undefined;

/**
 * An object with one function per signature, each declared to koffi when first
 * read, then a plain property: the first read of a name costs a declaration, later
 * ones nothing.
 */
function declareOnUse<T extends Record<string, string>>(signatures: T): Record<keyof T, KoffiFunction> {
  const fns = {} as Record<keyof T, KoffiFunction>;
  for (const name of Object.keys(signatures) as (keyof T & string)[]) {
    Object.defineProperty(fns, name, {
      configurable: true,
      get: () => {
        const fn = (libcHandle ??= ffi().load('libc.so.6')).func(signatures[name]!);
        Object.defineProperty(fns, name, { value: fn });
        return fn;
      },
    });
  }
  return fns;
}

const errno = (): number => ffi().errno();

type KoffiFunction = ReturnType<Koffi.LibraryHandle['func']>;

// Linux constants (identical on x86_64 and arm64 for everything used here).
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_ERROR = 4;
export const SO_PASSCRED = 16;
export const SO_PEERCRED = 17;
export const SO_PEERGROUPS = 59;
export const SO_COOKIE = 57;
export const SCM_RIGHTS = 1;
export const SCM_CREDENTIALS = 2;
export const MSG_PEEK = 0x2;
export const MSG_CTRUNC = 0x8;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0o4000;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const SHUT_WR = 1;
export const MFD_CLOEXEC = 1;
export const MFD_ALLOW_SEALING = 2;
export const F_ADD_SEALS = 1033;
export const F_GET_SEALS = 1034;
export const F_SEAL_SEAL = 1;
export const F_SEAL_SHRINK = 2;
export const F_SEAL_GROW = 4;
export const F_SEAL_WRITE = 8;
export const EAGAIN = 11;
export const EINTR = 4;
export const EBADF = 9;
export const EINPROGRESS = 115;

type Bytes = Uint8Array | Buffer;

const c = declareOnUse({
  socket: 'int socket(int, int, int)',
  socketpair: 'int socketpair(int, int, int, _Out_ int *sv)',
  bind: 'int bind(int, const void *addr, uint32_t len)',
  listen: 'int listen(int, int)',
  accept4: 'int accept4(int, void *addr, void *len, int flags)',
  connect: 'int connect(int, const void *addr, uint32_t len)',
  shutdown: 'int shutdown(int, int)',
  sendmsg: 'long sendmsg(int, void *msg, int)',
  recvmsg: 'long recvmsg(int, void *msg, int)',
  ioctl: 'int ioctl(int, unsigned long, void *arg)',
  read: 'long read(int, void *buf, size_t)',
  write: 'long write(int, const void *buf, size_t)',
  getsockopt: 'int getsockopt(int, int, int, void *val, void *len)',
  setsockopt: 'int setsockopt(int, int, int, const void *val, uint32_t len)',
  getsockname: 'int getsockname(int, void *addr, void *len)',
  getpeername: 'int getpeername(int, void *addr, void *len)',
  fcntl: 'int fcntl(int, int, ...)',
  close: 'int close(int)',
  poll: 'int poll(void *fds, unsigned long n, int timeout)',
  ppoll: 'int ppoll(void *fds, unsigned long n, const void *timeout, const void *sigmask)',
  pthread_sigmask: 'int pthread_sigmask(int how, const void *set, void *old)',
  flock: 'int flock(int, int)',
  memfd_create: 'int memfd_create(const char *name, unsigned int flags)',
  mmap: 'void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)',
  munmap: 'int munmap(void *addr, size_t len)',
  madvise: 'int madvise(void *addr, size_t len, int advice)',
  pipe2: 'int pipe2(_Out_ int *fds, int flags)',
});

/** Throw the error for the errno of the call that just failed (read it first: any call overwrites it). */
function fail(syscall: string, path?: string): never {
  throw errnoError(errno(), syscall, path);
}

/** Pass through a call's result, throwing on -1. */
function check(ret: number, syscall: string, path?: string): number {
  if (ret < 0) fail(syscall, path);
  return ret;
}

export function socket(domain: number, type: number, protocol = 0): number {
  return check(c.socket(domain, type | SOCK_CLOEXEC, protocol), 'socket');
}

export function socketpair(type: number): [number, number] {
  const sv = [0, 0];
  check(c.socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 'socketpair');
  return [sv[0], sv[1]];
}

export function bind(fd: number, addr: Bytes, path?: string): void {
  check(c.bind(fd, addr, addr.length), 'bind', path);
}

export function listen(fd: number, backlog: number, path?: string): void {
  check(c.listen(fd, backlog), 'listen', path);
}

/** Accept one connection; returns -1 when none is pending on a non-blocking socket. */
export function accept(fd: number, flags = 0): number {
  for (;;) {
    const r = c.accept4(fd, null, null, flags | SOCK_CLOEXEC);
    if (r >= 0) return r;
    const e = errno();
    if (e === EAGAIN) return -1;
    if (e !== EINTR) throw errnoError(e, 'accept');
  }
}

/** Connect; returns false for EINPROGRESS/EAGAIN on a non-blocking socket. */
export function connect(fd: number, addr: Bytes, path?: string): boolean {
  for (;;) {
    if (c.connect(fd, addr, addr.length) === 0) return true;
    const e = errno();
    if (e === EINPROGRESS || e === EAGAIN) return false;
    if (e !== EINTR) throw errnoError(e, 'connect', path);
  }
}

export function shutdown(fd: number, how: number): void {
  check(c.shutdown(fd, how), 'shutdown');
}

/** Non-throwing forms for hot paths: return -errno on failure. */
export function sendmsgRaw(fd: number, msg: unknown, flags: number): number {
  const r = c.sendmsg(fd, msg, flags);
  return r < 0 ? -errno() : r;
}

export function recvmsgRaw(fd: number, msg: unknown, flags: number): number {
  const r = c.recvmsg(fd, msg, flags);
  return r < 0 ? -errno() : r;
}

const FIONREAD = 0x541b;
const inq = new Int32Array(1);

/** Bytes waiting in a socket's receive queue (FIONREAD), or -errno. */
export function inqRaw(fd: number): number {
  return c.ioctl(fd, FIONREAD, inq) < 0 ? -errno() : inq[0];
}

export function readRaw(fd: number, buf: Bytes, len = buf.length): number {
  const r = c.read(fd, buf, len);
  return r < 0 ? -errno() : r;
}

export function writeRaw(fd: number, buf: Bytes, len = buf.length): number {
  const r = c.write(fd, buf, len);
  return r < 0 ? -errno() : r;
}

const optLen = new Uint32Array(1);

/** getsockopt into `val`; returns the length the kernel reported. */
export function getsockopt(fd: number, level: number, name: number, val: Bytes): number {
  optLen[0] = val.length;
  check(c.getsockopt(fd, level, name, val, optLen), 'getsockopt');
  return optLen[0];
}

/** Like getsockopt, but returns -errno instead of throwing (ERANGE probing). */
export function getsockoptRaw(fd: number, level: number, name: number, val: Bytes): number {
  optLen[0] = val.length;
  if (c.getsockopt(fd, level, name, val, optLen) < 0) return -errno();
  return optLen[0];
}

const cookie = new Uint32Array(2);

/**
 * The kernel's cookie for socket `fd`: a number no other socket gets until reboot,
 * so it tells a reused descriptor number from the socket it used to name. -errno on
 * failure (EBADF, ENOTSOCK).
 */
export function socketCookie(fd: number): number {
  optLen[0] = 8;
  if (c.getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, optLen) < 0) return -errno();
  return cookie[1] * 2 ** 32 + cookie[0]; // a counter from 1: far below 2^53
}

const intOpt = Buffer.alloc(4);

/** An integer socket option (SO_TYPE, SO_DOMAIN, SO_ACCEPTCONN...). */
export function getsockoptInt(fd: number, level: number, name: number): number {
  getsockopt(fd, level, name, intOpt);
  return intOpt.readInt32LE(0);
}

export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const v = new Int32Array([value]);
  check(c.setsockopt(fd, level, name, v, 4), 'setsockopt');
}

/** getsockname/getpeername into `addr`; returns the address length. */
export function sockname(fd: number, addr: Bytes, peer = false): number {
  optLen[0] = addr.length;
  check((peer ? c.getpeername : c.getsockname)(fd, addr, optLen), peer ? 'getpeername' : 'getsockname');
  return optLen[0];
}

export function fcntl(fd: number, cmd: number, arg = 0): number {
  return check(c.fcntl(fd, cmd, 'int', arg), 'fcntl');
}

export function setNonBlocking(fd: number, on: boolean): void {
  const fl = fcntl(fd, F_GETFL);
  const next = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
  if (next !== fl) fcntl(fd, F_SETFL, next);
}

export function isNonBlocking(fd: number): boolean {
  return (fcntl(fd, F_GETFL) & O_NONBLOCK) !== 0;
}

/** dup that keeps the new descriptor close-on-exec. */
export function dup(fd: number): number {
  return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/** close(2); EINTR still releases the descriptor on Linux, so it is not retried. */
export function close(fd: number): void {
  if (c.close(fd) < 0) {
    const e = errno();
    if (e !== EINTR) throw errnoError(e, 'close');
  }
}

/** True if `fd` is an open descriptor of this process. */
export function isOpen(fd: number): boolean {
  return c.fcntl(fd, F_GETFD, 'int', 0) >= 0;
}

const SIG_BLOCK = 0;
const SIGCHLD = 17;
const SIGPROF = 27;
const waitMask = new Uint8Array(128); // glibc's sigset_t
let maskRead = false;
const waitTime = new BigInt64Array(2); // struct timespec

/**
 * poll(2) over a prepared array of struct pollfd (8 bytes each). A wait that sleeps
 * is ppoll(2) with SIGCHLD and SIGPROF blocked: libuv handles SIGCHLD once any child
 * was spawned, and a child's exit must not end the wait, nor must a sample of the
 * profiler (node --cpu-prof); such a signal stays pending and is handled after. Any
 * other handled signal ends it with EINTR, thrown as `syscall` on `path`, so the
 * caller returns to the event loop where Node runs the signal's listeners.
 */
export function poll(fds: Int32Array, n: number, timeoutMs: number, syscall = 'poll', path?: string): number {
  let r: number;
  if (timeoutMs === 0) {
    r = c.poll(fds, n, 0);
  } else {
    if (!maskRead) {
      // JavaScript never changes a thread's mask (libuv does only inside its own calls): ask once
      check(c.pthread_sigmask(SIG_BLOCK, null, waitMask), 'pthread_sigmask');
      for (const sig of [SIGCHLD, SIGPROF]) waitMask[(sig - 1) >> 3] |= 1 << ((sig - 1) & 7);
      maskRead = true;
    }
    if (timeoutMs > 0) {
      waitTime[0] = BigInt(Math.floor(timeoutMs / 1000));
      waitTime[1] = BigInt(Math.floor(timeoutMs % 1000) * 1_000_000);
    }
    r = c.ppoll(fds, n, timeoutMs < 0 ? null : waitTime, waitMask);
  }
  if (r >= 0) return r;
  const e = errno();
  if (e === EINTR && timeoutMs === 0) return 0;
  throw errnoError(e, syscall, path, e === EINTR ? 'interrupted by a signal' : undefined);
}

/** flock(2); with LOCK_NB returns false when the lock is held elsewhere. */
export function flock(fd: number, op: number, path?: string): boolean {
  for (;;) {
    if (c.flock(fd, op) === 0) return true;
    const e = errno();
    if (e === EAGAIN && op & LOCK_NB) return false;
    if (e !== EINTR) throw errnoError(e, 'flock', path);
  }
}

/** flock(2) on libuv's thread pool, for the rare contended wait in async code. */
export function flockAsync(fd: number, op: number, path?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    c.flock.async(fd, op, (err: unknown, r: number) => {
      // .async calls lose errno; the only way flock fails on a file we just opened is a bad fd
      if (err || r !== 0) reject(errnoError(EBADF, 'flock', path));
      else resolve();
    });
  });
}

/** A pipe, both ends close-on-exec: [read end, write end]. */
export function pipe(): [number, number] {
  const fds = [0, 0];
  check(c.pipe2(fds, 0o2000000), 'pipe2');
  return [fds[0], fds[1]];
}

export function memfd(name: string): number {
  return check(c.memfd_create(name, MFD_CLOEXEC), 'memfd_create');
}

/** A memfd that accepts seals (F_ADD_SEALS). */
export function sealableMemfd(name: string): number {
  return check(c.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING), 'memfd_create');
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_PRIVATE = 2;
const MAP_ANONYMOUS = 0x20;
const MAP_NORESERVE = 0x4000;
const MADV_POPULATE_READ = 22;
const MAP_FAILED = 0xffffffffffffffffn;

/** A readable and writable mapping of `size` bytes of `fd` (-1: anonymous memory) from offset 0. */
function mmap(size: number, flags: number, fd: number, path?: string): unknown {
  const ptr = c.mmap(null, size, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (ptr === null || ffi().address(ptr) === MAP_FAILED) throw errnoError(errno(), 'mmap', path);
  return ptr;
}

/** Unmaps a mapping once the ArrayBuffer viewing it is garbage: nothing can read it then. */
const unmapOnCollect = new FinalizationRegistry<{ ptr: unknown; size: number }>(({ ptr, size }) => {
  c.munmap(ptr, size);
});

/**
 * The first `size` bytes of file `fd` as a Buffer over a private copy-on-write mapping:
 * no copy is made, and writes to the Buffer stay this process's (they never reach the
 * file, so a sealed file can be mapped). Page tables are filled at once for reading
 * (MADV_POPULATE_READ), so reading does not fault page by page. Unmapped when the
 * Buffer's memory is collected; the fd can be closed at once.
 */
export function mapPrivate(fd: number, size: number, path?: string): Buffer {
  const ptr = mmap(size, MAP_PRIVATE, fd, path);
  // Only an optimisation: a kernel without MADV_POPULATE_READ faults pages in as they are read.
  c.madvise(ptr, size, MADV_POPULATE_READ);
  const memory = ffi().view(ptr, size);
  unmapOnCollect.register(memory, { ptr, size });
  return Buffer.from(memory);
}

const MADV_DONTNEED = 4;

/**
 * `size` bytes of address space that cost memory only where written (anonymous,
 * MAP_NORESERVE), kept for the life of the process; `discard(n)` gives the first `n`
 * bytes' pages back (they read as zeros again).
 */
export function reserveMemory(size: number): { address: bigint; bytes: Uint8Array; discard(n: number): void } {
  const ptr = mmap(size, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
  return { address: ffi().address(ptr), bytes: new Uint8Array(ffi().view(ptr, size)), discard: (n) => void c.madvise(ptr, n, MADV_DONTNEED) };
}

/** Native memory that does not move, for structures holding pointers (msghdr). */
export function allocNative(size: number): { ptr: unknown; address: bigint; bytes: Uint8Array } {
  const ptr = ffi().alloc('uint8', size);
  return { ptr, address: ffi().address(ptr), bytes: new Uint8Array(ffi().view(ptr, size)) };
}

/** Where a Buffer's bytes are in memory (they do not move while it lives), for a system call to fill them. */
export function addressOf(buf: Buffer): bigint {
  return ffi().address(buf);
}

// Internet sockets: socket options, datagrams and the system resolver.
export const SO_TYPE = 3;
export const SO_ACCEPTCONN = 30;
export const SO_DOMAIN = 39;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const TCP_NODELAY = 1;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;

const inet = declareOnUse({
  sendto: 'long sendto(int, const void *buf, size_t, int, const void *addr, uint32_t len)',
  recvfrom: 'long recvfrom(int, void *buf, size_t, int, void *addr, void *len)',
  recv: 'long recv(int, void *buf, size_t, int)',
  send: 'long send(int, const void *buf, size_t, int)',
  getnameinfo: 'int getnameinfo(const void *sa, uint32_t salen, void *host, uint32_t hostlen, void *serv, uint32_t servlen, int flags)',
  if_nametoindex: 'unsigned int if_nametoindex(const char *name)',
  if_indextoname: 'char *if_indextoname(unsigned int index, void *name)',
  getaddrinfo: 'int getaddrinfo(const char *node, const char *service, const void *hints, _Out_ void **res)',
  freeaddrinfo: 'void freeaddrinfo(void *res)',
});

/** sendto(2) of one datagram; returns bytes sent or -errno. */
export function sendtoRaw(fd: number, buf: Bytes, addr: Bytes): number {
  const r = inet.sendto(fd, buf, buf.length, MSG_NOSIGNAL, addr, addr.length);
  return r < 0 ? -errno() : r;
}

const fromLen = new Uint32Array(1);

/** recvfrom(2) of one datagram into `buf`, the sender's sockaddr into `addr`; returns bytes or -errno. */
export function recvfromRaw(fd: number, buf: Bytes, addr: Bytes): number {
  fromLen[0] = addr.length;
  const r = inet.recvfrom(fd, buf, buf.length, 0, addr, fromLen);
  return r < 0 ? -errno() : r;
}

/** recv(2) on a socket with per-call `flags` (MSG_DONTWAIT, MSG_PEEK); returns bytes or -errno. */
export function recvRaw(fd: number, buf: Bytes, len: number, flags: number): number {
  const r = inet.recv(fd, buf, len, flags);
  return r < 0 ? -errno() : r;
}

/** send(2) with per-call `flags`, never raising SIGPIPE; returns bytes or -errno. */
export function sendRaw(fd: number, buf: Bytes, len: number, flags: number): number {
  const r = inet.send(fd, buf, len, flags | MSG_NOSIGNAL);
  return r < 0 ? -errno() : r;
}

/** The name the resolver gives sockaddr `addr` (getnameinfo with NI_NAMEREQD), or the EAI_* status. */
export function nameInfoRaw(addr: Bytes): string | { status: number; errno: number } {
  const NI_NAMEREQD = 8;
  const host = Buffer.alloc(1025); // NI_MAXHOST
  const status = inet.getnameinfo(addr, addr.length, host, host.length, null, 0, NI_NAMEREQD);
  if (status !== 0) return { status, errno: errno() };
  return host.toString('utf8', 0, host.indexOf(0));
}

/** The index of network interface `name` (an IPv6 zone), 0 if there is none. */
export function interfaceIndex(name: string): number {
  return inet.if_nametoindex(name);
}

/** The name of network interface `index`, null if there is none. */
export function interfaceName(index: number): string | null {
  const name = Buffer.alloc(16); // IF_NAMESIZE
  return inet.if_indextoname(index, name) === null ? null : name.toString('latin1', 0, name.indexOf(0));
}

/**
 * getaddrinfo(3) for `node` and address family (0 any, AF_INET, AF_INET6), stream
 * sockets only so each address comes once. Returns the sockaddrs in the resolver's
 * order, or the (negative) EAI_* status with the errno of an EAI_SYSTEM failure.
 */
export function getaddrinfoRaw(node: string, family: number): Buffer[] | { status: number; errno: number } {
  const hints = Buffer.alloc(48); // struct addrinfo: ai_family at 4, ai_socktype at 8
  hints.writeInt32LE(family, 4);
  hints.writeInt32LE(SOCK_STREAM, 8);
  const res: unknown[] = [null];
  const status = inet.getaddrinfo(node, null, hints, res);
  if (status !== 0) return { status, errno: errno() };
  const out: Buffer[] = [];
  try {
    for (let ai = res[0]; ai; ai = ffi().decode(ai, 40, 'void *')) {
      const len = ffi().decode(ai, 16, 'uint32') as number;
      // copy: the view is freed with the list below
      out.push(Buffer.from(new Uint8Array(ffi().view(ffi().decode(ai, 24, 'void *'), len))));
    }
  } finally {
    inet.freeaddrinfo(res[0]);
  }
  return out;
}
