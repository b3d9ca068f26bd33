// Services on demand: launch entries, auto-start (used by csopen/open), and the server loops.
export { findLaunchEntry, searchPath, type LaunchEntry } from '../namespace/entry';
export { serve, Server, type ServeOptions, type ConnectionHandler, type NetConnectionHandler } from './serve';
export { serveLoop, ServeLoop, type ServeLoopHandlers, type Interest } from './loop';
export { LineReader, MAX_LINE, writeLineSync, errorLine } from './lines';
export { DEFAULT_IDLE_MS } from './lifetime';

// values, not getters: see sys/index.ts
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
