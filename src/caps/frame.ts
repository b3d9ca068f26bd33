// The CAPS wire format on an fdp stream: 16-byte little-endian frame headers,
// the frame types, the handshake payloads, and the checks every received header passes.
import { CAPF_ABORT_HARD, CAPS_ABORT_ATSERVER, CAPS_ABORT_RETURNED, CAPS_MAXFDS, CAPS_MAXMSG } from './constants';

/**
 *   0  u32  payload length (bytes after the header)
 *   4  u8   type
 *   5  u8   descriptors carried by this frame
 *   6  u16  argument (ABORT flags, ABORTED result, SEALED on REQUEST/REPLY; else 0)
 *   8  u64  message id (the client's numbering; 0 for connection frames)
 */
export const HEADER_SIZE = 16;

export const HELLO = 1; // client -> service: magic, version, access flags
export const WELCOME = 2; // service -> client: magic, version, status (errno), generation
export const REQUEST = 3; // client -> service
export const REPLY = 4; // service -> client
export const DISPOSE = 5; // client -> service: the reply was consumed
export const ABORT = 6; // client -> service: arg = abort flags
export const ABORTED = 7; // service -> client: arg = CAPS_ABORT_* result
export const GEN = 8; // service -> client: the new generation (i64 payload)

export const MAGIC = 0x53504143; // "CAPS"
/** 2: messages above CAPS_MAXMSG in sealed memfds, each side's ceiling in the handshake. */
export const VERSION = 2;
export const HELLO_SIZE = 12;
export const WELCOME_SIZE = 16;
/** A version 2 WELCOME adds the service's ceiling (u64). */
export const WELCOME2_SIZE = 24;
export const GEN_SIZE = 8;

/** The argument of a REQUEST or REPLY whose message is in a sealed memfd, its first descriptor. */
export const SEALED = 1;
/** Its payload: the u64 size of the memfd. */
export const SEALED_SIZE = 8;
/** HELLO states the client's ceiling in these units, a u16 where version 1 has 0. */
export const CEILING_UNIT = 64 * 1024;

/** Ids travel as u64 but must stay exact in a JS number. */
const MAX_ID_HIGH = 2 ** 21;

export interface Header {
  length: number;
  type: number;
  nfds: number;
  arg: number;
  id: number;
}

export function writeHeader(buf: Buffer, at: number, length: number, type: number, nfds: number, arg: number, id: number): void {
  buf.writeUInt32LE(length, at);
  buf[at + 4] = type;
  buf[at + 5] = nfds;
  buf.writeUInt16LE(arg, at + 6);
  buf.writeUInt32LE(id % 2 ** 32, at + 8);
  buf.writeUInt32LE(Math.floor(id / 2 ** 32), at + 12);
}

/** Read a header; returns a description of what is wrong with it, or null when its fields are in range. */
export function readHeader(buf: Buffer, at: number, h: Header): string | null {
  h.length = buf.readUInt32LE(at);
  h.type = buf[at + 4];
  h.nfds = buf[at + 5];
  h.arg = buf.readUInt16LE(at + 6);
  const high = buf.readUInt32LE(at + 12);
  if (high >= MAX_ID_HIGH) return 'message id out of range';
  h.id = high * 2 ** 32 + buf.readUInt32LE(at + 8);
  return checkShape(h);
}

/** Lengths, descriptor counts and arguments each frame type allows. */
function checkShape(h: Header): string | null {
  const carriesData = h.type === REQUEST || h.type === REPLY;
  if (h.type < HELLO || h.type > GEN) return `unknown frame type ${h.type}`;
  if (h.nfds > (carriesData ? CAPS_MAXFDS : 0)) return `frame type ${h.type} with ${h.nfds} descriptors`;
  const sealed = carriesData && h.arg === SEALED;
  if (sealed && h.nfds === 0) return `a sealed frame type ${h.type} without its descriptor`;
  const size = h.type === HELLO ? HELLO_SIZE : h.type === GEN ? GEN_SIZE : sealed ? SEALED_SIZE : carriesData ? -1 : 0;
  const sizeOk = h.type === WELCOME ? h.length === WELCOME_SIZE || h.length === WELCOME2_SIZE : size < 0 ? h.length <= CAPS_MAXMSG : h.length === size;
  if (!sizeOk) return `frame type ${h.type} with a ${h.length}-byte payload`;
  const argOk = h.type === ABORT ? (h.arg & ~CAPF_ABORT_HARD) === 0 : h.type === ABORTED ? h.arg >= CAPS_ABORT_RETURNED && h.arg <= CAPS_ABORT_ATSERVER : h.arg === 0 || sealed;
  if (!argOk) return `frame type ${h.type} with argument ${h.arg}`;
  const needsId = h.type >= REQUEST && h.type <= ABORTED;
  if (needsId !== (h.id !== 0)) return `frame type ${h.type} with message id ${h.id}`;
  return null;
}

/** HELLO with the client's ceiling in CEILING_UNITs (a version 1 service ignores that u16). */
export function helloPayload(flags: number, ceiling: number): Buffer {
  const b = Buffer.alloc(HELLO_SIZE);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt16LE(VERSION, 4);
  b.writeUInt16LE(Math.floor(ceiling / CEILING_UNIT), 6);
  b.writeUInt32LE(flags >>> 0, 8);
  return b;
}

/** WELCOME in the version agreed on: a version 2 one carries the service's ceiling. */
export function welcomePayload(status: number, gen: bigint, version: number, ceiling: number): Buffer {
  const b = Buffer.alloc(version >= 2 ? WELCOME2_SIZE : WELCOME_SIZE);
  b.writeUInt32LE(MAGIC, 0);
  b.writeUInt16LE(version, 4);
  b.writeUInt16LE(status, 6);
  b.writeBigInt64LE(gen, 8);
  if (version >= 2) b.writeBigUInt64LE(BigInt(ceiling), 16);
  return b;
}

export function genPayload(gen: bigint): Buffer {
  const b = Buffer.alloc(GEN_SIZE);
  b.writeBigInt64LE(gen, 0);
  return b;
}

/** The version both sides speak (the lower of the two), or null when the peer's payload is not a CAPS handshake. */
export function handshakeVersion(payload: Buffer): number | null {
  if (payload.readUInt32LE(0) !== MAGIC) return null;
  const v = payload.readUInt16LE(4);
  return v >= 1 ? Math.min(v, VERSION) : null;
}
