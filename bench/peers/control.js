// What every Node bench peer shares: the control protocol the bench drives a client
// with, timed loops, and the byte-stream pieces (reply matching, echo, bulk) that the
// cs and net peers run alike so that only the transport differs.
//
// Protocol: a client prints "ready [PID...]" (extra pids whose CPU time counts too),
// then for each stdin line "MS" it works for about MS milliseconds and prints
// "COUNT NANOSECONDS [FAILURES]". End of stdin ends it. Servers print "ready" only.
'use strict';
const readline = require('node:readline');

const now = () => process.hrtime.bigint();

/** Announce readiness, then answer run requests with `run(ms)` -> [count, ns, failures?]. */
async function control(run, extraPids = []) {
  console.log(['ready', ...extraPids].join(' '));
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const result = await run(Number(line));
    process.stdout.write(`${result.join(' ')}\n`);
  }
  process.exit(0);
}

/** A blocking operation repeated for `ms`. */
function loopSync(op) {
  return (ms) => {
    const t0 = now();
    const end = Date.now() + ms;
    let n = 0;
    do {
      op();
      n++;
    } while (Date.now() < end);
    return [n, now() - t0];
  };
}

/**
 * `window` calls kept in flight on each of `calls` (functions returning a promise) for
 * `ms`; calls in flight at the deadline finish and count, and their time with them.
 */
function loopAsync(calls, window = 1) {
  return async (ms) => {
    const t0 = now();
    const end = Date.now() + ms;
    let n = 0;
    const lane = async (call) => {
      do {
        await call();
        n++;
      } while (Date.now() < end);
    };
    await Promise.all(calls.flatMap((call) => Array.from({ length: window }, () => lane(call))));
    return [n, now() - t0];
  };
}

/** Ops timed one by one (their own time only, not what happens between them), for at least one op and about `ms`. */
function loopTimed(op) {
  return async (ms) => {
    const end = Date.now() + ms;
    let n = 0;
    let ns = 0n;
    do {
      ns += await op();
      n++;
    } while (Date.now() < end);
    return [n, ns];
  };
}

/** `total` opens with at most `inFlight` pending; counts failures (and says which on stderr). One burst per run request. */
function burst(openClose, total, inFlight) {
  return async () => {
    const t0 = now();
    let next = 0;
    const failures = new Map();
    const failed = (e) => {
      const why = e.code ?? e.message;
      failures.set(why, (failures.get(why) ?? 0) + 1);
    };
    const lane = async () => {
      while (next++ < total) await openClose().catch(failed);
    };
    await Promise.all(Array.from({ length: inFlight }, lane));
    const ns = now() - t0;
    if (failures.size) console.error(`burst of ${total}: failed ${[...failures].map(([why, n]) => `${n}x ${why}`).join(', ')}`);
    return [total, ns, [...failures.values()].reduce((a, b) => a + b, 0)];
  };
}

/**
 * Request/reply over a byte stream: `call(request)` writes it and resolves with the
 * reply; replies come back in order, `sizeOf(pending)` says how long the next one is
 * (Infinity while unknown).
 */
function replies(stream, sizeOf) {
  const waiting = [];
  let pending = Buffer.alloc(0);
  stream.on('data', (d) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    for (let size = sizeOf(pending); pending.length >= size; size = sizeOf(pending)) {
      waiting.shift()(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  });
  return (request) => new Promise((resolve) => {
    waiting.push(resolve);
    stream.write(request);
  });
}

/** The length of a frame with a u32 little-endian length prefix, once its prefix is there. */
const frameSize = (b) => (b.length >= 4 ? 4 + b.readUInt32LE(0) : Infinity);

/** A frame of `n` payload bytes. */
function frame(n) {
  const f = Buffer.alloc(4 + n, 'q');
  f.writeUInt32LE(n, 0);
  return f;
}

/** Echo whole length-prefixed frames back. */
function echoFrames(stream) {
  let pending = Buffer.alloc(0);
  stream.on('data', (d) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    let end = 0;
    while (pending.length - end >= 4 && pending.length - end >= frameSize(pending.subarray(end))) end += frameSize(pending.subarray(end));
    if (end > 0) {
      stream.write(pending.subarray(0, end));
      pending = pending.subarray(end);
    }
  });
}

const CHUNK = Buffer.alloc(64 * 1024, 'b');

/** Write `size` bytes (honouring back-pressure) and wait for the one-byte ack. */
function bulkSend(stream, size) {
  return () => new Promise((resolve) => {
    const t0 = now();
    stream.once('data', () => resolve(now() - t0));
    let left = size;
    const more = () => {
      while (left > 0) {
        left -= CHUNK.length;
        if (!stream.write(CHUNK)) return stream.once('drain', more);
      }
    };
    more();
  });
}

/** Read and count; ack every `size` bytes with one byte. */
function bulkSink(stream, size) {
  let got = 0;
  stream.on('data', (d) => {
    got += d.length;
    if (got >= size) {
      got -= size;
      stream.write('k');
    }
  });
}

module.exports = { control, loopSync, loopAsync, loopTimed, burst, replies, frameSize, frame, echoFrames, bulkSend, bulkSink };
