// Waiting for descriptors: deadlines, "not ready", and the sync and async drivers.
export { handshakeTimeout, deadlineIn, msLeft, timedOut, closeOnAbort, sleepSync } from './deadline';
export { AGAIN, waitSync, runSync, ready, runAsync, stepThrough, stepThroughAsync, driveSync, driveAsync, type Want, type Step, type Steps } from './wait';
export { handOver, adopt, acceptPending } from './mode';

// values, not getters: see sys/index.ts
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
