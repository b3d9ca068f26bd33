// Line requests and replies for serveLoop handlers. Bytes and cssend records share a
// cs stream, and a read(2) that runs past a newline into a record swallows (and the
// kernel closes) that record's descriptors; so lines are read one byte at a time.
import { csError, errnoError, readRaw, writeRaw, EAGAIN, type CsError } from '../sys';
import { AGAIN, handshakeTimeout, runSync } from '../io';

/** The longest request line LineReader accepts by default. */
export const MAX_LINE = 4096;

/** Collects one line at a time from a non-blocking stream, across readiness events. */
export class LineReader {
  #bytes: number[] = [];
  #one = Buffer.alloc(1);

  constructor(readonly max = MAX_LINE) {}

  /**
   * Read what has arrived, up to the end of the next line. Returns the line without
   * its newline (and a trailing \r), undefined when more must arrive, null at end of
   * stream. Throws EMSGSIZE for a line longer than `max`, or the read error.
   */
  read(fd: number): string | null | undefined {
    for (;;) {
      const n = readRaw(fd, this.#one, 1);
      if (n === -EAGAIN) return undefined;
      if (n < 0) throw errnoError(-n, 'read');
      if (n === 0) return null;
      const byte = this.#one[0];
      if (byte === 0x0a) {
        const line = Buffer.from(this.#bytes).toString('utf8').replace(/\r$/, '');
        this.#bytes = [];
        return line;
      }
      if (this.#bytes.length >= this.max) throw csError('EMSGSIZE', 'read', undefined, `request line longer than ${this.max} bytes`);
      this.#bytes.push(byte);
    }
  }
}

/** Write `text` and a newline, waiting (at most $CS_TIMEOUT_MS) while the peer's buffer is full. */
export function writeLineSync(fd: number, text: string): void {
  let rest = Buffer.from(`${text}\n`);
  runSync(fd, 'w', handshakeTimeout, () => {
    const n = writeRaw(fd, rest);
    if (n === -EAGAIN) return AGAIN;
    if (n < 0) throw errnoError(-n, 'write');
    rest = rest.subarray(n);
    return rest.length > 0 ? AGAIN : undefined;
  }, 'write');
}

/** The reply line for a refused request: `error <CODE> <message on one line>`, the code said once. */
export function errorLine(err: unknown): string {
  const e = err as Partial<CsError>;
  const code = e.code ?? 'EIO';
  const message = String(e.message ?? err).replace(/\s*\n\s*/g, ' ');
  return `error ${code} ${message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message}`;
}
