// The namespace on disk: where services live, who may use them, who serves them.
export * from './mount';
export * from './lock';
export * from './record';
export { pidAlive, processInfo, type ProcessInfo } from './proc';
export { trustedServer, trustedUid, type Identity } from './trust';
export { hostDirName, shortHostName, isThisHost } from './host';
export { resolveUid, resolveGid, ownerName, primaryGid } from './ids';
export * from './list';

// values, not getters: see sys/index.ts
module.exports = Object.defineProperty({ ...exports }, '__esModule', { value: true });
