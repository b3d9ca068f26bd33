// The echo service (`server <path>`, by default /dev/fdp/local/echo): every byte a
// client sends comes back, and every cssend record comes back as a record with the
// same descriptors, so it serves byte and descriptor round trips alike. A client
// that does not read its echo is not read either once its unsent output is full.
import { constants } from 'node:os';
// Each import names the module that owns it: a started echo loads only its own part of cs.
import { serveLoop, type ServeLoop } from '../../src/launch/loop';
// Passing bytes and descriptors through unchanged needs recvmsg(2) itself.
import { closeAll, recvFds, MAX_FDS_PER_MSG } from '../../src/sys/msg';
import { RECORD_SIZE } from '../../src/stream/record';

const { EAGAIN } = constants.errno;

const buf = Buffer.alloc(64 * 1024);
let loop: ServeLoop;

/**
 * Send back what one recvmsg returned. The kernel ends a read right after a message
 * that carried descriptors, so they belong to its last RECORD_SIZE bytes: those go
 * back as one message with the descriptors, the bytes before them as plain bytes.
 */
function echo(fd: number, data: Buffer, fds: number[]): void {
  if (fds.length === 0 || data.length <= RECORD_SIZE) return loop.send(fd, data, fds);
  const cut = data.length - RECORD_SIZE;
  loop.send(fd, data.subarray(0, cut));
  loop.send(fd, data.subarray(cut), fds);
}

function read(fd: number): number {
  const r = recvFds(fd, buf, MAX_FDS_PER_MSG);
  if (r.n === -EAGAIN) return 0;
  if (r.n <= 0 || r.truncated) {
    closeAll(r.fds);
    return -1;
  }
  echo(fd, buf.subarray(0, r.n), r.fds);
  return 0;
}

serveLoop(process.argv[2] ?? '/dev/fdp/local/echo', {
  init: (server) => (loop = server),
  read,
}).catch((e: Error) => {
  console.error(`echo: ${e.message}`);
  process.exit(1);
});
