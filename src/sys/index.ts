// The system-call layer: the only door to the kernel.
export * from './errors';
export * from './libc';
export * from './msg';
export * from './addr';
export * from './diag';
export * from './pidfd';
export { Watcher } from './watch';
