// The public API of cs.
export * from './stream';
export * from './launch';
export * from './net';
export * from './caps';
export { parsePath, formatPath, type CsPath, type CsPathOptions, type Proto } from './path';
export { csport, hashPort } from './port';
export { mountRoot } from './namespace';
export type { CsError } from './sys';
