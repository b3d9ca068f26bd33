// The echo service (`server <path>`, by default /dev/fdp/local/echo): every byte a
// client sends comes back, and every cssend record comes back as a record with the
// same descriptors, so it serves byte and descriptor round trips alike.
import { constants } from 'node:os';
// Passing bytes and descriptors through unchanged needs recvmsg(2) itself.
import { closeAll, csserve, recvFds, sendFds, MAX_FDS_PER_MSG, RECORD_SIZE, type CsServer } from '../../src';

const { EAGAIN } = constants.errno;

interface Chunk {
  data: Buffer;
  fds: number[];
}

const buf = Buffer.alloc(64 * 1024);
const pending = new Map<number, Chunk[]>();
let loop: CsServer;

/**
 * Split what one recvmsg returned. The kernel ends a read right after a message
 * that carried descriptors, so they belong to its last RECORD_SIZE bytes: those go
 * back as one message with the descriptors, the bytes before them as plain bytes.
 */
function chunks(data: Buffer, fds: number[]): Chunk[] {
  if (fds.length === 0 || data.length <= RECORD_SIZE) return [{ data, fds }];
  const cut = data.length - RECORD_SIZE;
  return [{ data: data.subarray(0, cut), fds: [] }, { data: data.subarray(cut), fds }];
}

function drop(fd: number): number {
  for (const c of pending.get(fd) ?? []) closeAll(c.fds);
  pending.delete(fd);
  return -1;
}

/** Send what is queued for `fd`; wait for writability when the peer's buffer is full. */
function flush(fd: number, queue: Chunk[]): number {
  while (queue.length > 0) {
    const c = queue[0];
    const n = sendFds(fd, c.data, c.fds);
    if (n === -EAGAIN) {
      pending.set(fd, queue);
      loop.watch(fd, 'w');
      return 0;
    }
    if (n < 0) {
      pending.set(fd, queue);
      return drop(fd);
    }
    closeAll(c.fds); // the kernel holds them in flight now
    if (n < c.data.length) queue[0] = { data: c.data.subarray(n), fds: [] };
    else queue.shift();
  }
  pending.delete(fd);
  loop.watch(fd, 'r');
  return 0;
}

function read(fd: number): number {
  const r = recvFds(fd, buf, MAX_FDS_PER_MSG);
  if (r.n === -EAGAIN) return 0;
  if (r.n <= 0 || r.truncated) {
    closeAll(r.fds);
    return -1;
  }
  return flush(fd, chunks(Buffer.from(buf.subarray(0, r.n)), r.fds));
}

csserve(process.argv[2] ?? '/dev/fdp/local/echo', {
  init: (server) => (loop = server),
  read,
  write: (fd) => flush(fd, pending.get(fd) ?? []),
  done: () => {
    for (const fd of [...pending.keys()]) drop(fd);
  },
}).catch((e: Error) => {
  console.error(`echo: ${e.message}`);
  process.exit(1);
});
