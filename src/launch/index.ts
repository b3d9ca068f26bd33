// Services on demand: launch entries, auto-start (used by csopen/open), and the server loops.
export { findLaunchEntry, searchPath, type LaunchEntry } from '../namespace/entry';
export { serve, Server, type ServeOptions, type ConnectionHandler } from './serve';
export { csserve, CsServer, type CsServeHandlers, type Interest } from './csserve';
export { LineReader, MAX_LINE, writeLine, errorLine } from './lines';
export { DEFAULT_IDLE_MS } from './lifetime';
