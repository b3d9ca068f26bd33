// The system-call layer: the only door to the kernel.
export * from './errors';
export * from './libc';
export * from './msg';
export * from './addr';
export * from './diag';
export * from './pidfd';
export { Watcher } from './watch';

// A re-export compiles to a getter that runs on every use (`sys_1.sendmsgRaw(...)`),
// megamorphic for `export *`: on paths that cross the kernel per message that was
// a tenth of the CPU. Hand out the values themselves; no export is ever reassigned.
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
