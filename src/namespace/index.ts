// The namespace on disk: where services live, who may use them, who serves them.
export * from './mount';
export * from './lock';
export { hostDirName, shortHostName, isThisHost } from './host';
export { resolveUid, resolveGid } from './ids';
export * from './list';
