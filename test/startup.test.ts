// What a process loads for what it does: requiring the package compiles only its
// entry point, and an fdp open of a running service loads neither the tcp/udp layer
// nor auto-start. Checked in child processes through require.cache and Node's list
// of loaded built-ins, on the built package.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { listen, type Connection } from '../src';
import { freshRootEachTest } from './helpers';

const ROOT = join(__dirname, '..');
const DIST = join(ROOT, 'dist', 'src');

/** The cs modules (relative to dist/src) and the public built-ins a child loaded running `script` after `before`. */
function loadedBy(script: string, before = ''): Promise<{ modules: string[]; builtins: string[]; koffi: boolean }> {
  const program = `
    ${before}
    const seen = new Set(process.moduleLoadList);
    ${script}
    const files = Object.keys(require.cache);
    console.log(JSON.stringify({
      modules: files.filter((f) => f.startsWith(${JSON.stringify(DIST + '/')})).map((f) => f.slice(${DIST.length + 1})).sort(),
      builtins: process.moduleLoadList.filter((m) => !seen.has(m) && /^NativeModule [^i]/.test(m)).map((m) => m.slice(13)).sort(),
      koffi: files.some((f) => f.includes('koffi')),
    }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', program], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited with ${code}: ${out}`))));
  });
}

describe('start-up', () => {
  freshRootEachTest();

  test('requiring the package loads only its entry point: no other cs module, no koffi, no child_process, dgram or worker_threads', async () => {
    const { modules, builtins, koffi } = await loadedBy(`require(${JSON.stringify(ROOT)});`);
    expect(modules).toEqual(['exports.js', 'index.js']);
    expect(koffi).toBe(false);
    expect(builtins.filter((b) => ['child_process', 'dgram', 'worker_threads', 'crypto', 'dns', 'net'].includes(b))).toEqual([]);
  }, 30_000);

  test('reading one name loads its own module and what that needs, not the rest of the package', async () => {
    const { modules } = await loadedBy(`require(${JSON.stringify(ROOT)}).CS_OPEN_CREATE;`);
    expect(modules).toEqual(['exports.js', 'index.js', 'stream/flags.js']);
  }, 30_000);

  test('a name read once is a plain value from then on: no getter runs per call', async () => {
    const cs = require(ROOT);
    expect(typeof Object.getOwnPropertyDescriptor(cs, 'cssend')!.get).toBe('function');
    const first = cs.cssend;
    expect(Object.getOwnPropertyDescriptor(cs, 'cssend')).toMatchObject({ value: first, enumerable: true });
    expect(Object.getOwnPropertyDescriptor(cs, 'cssend')!.get).toBeUndefined();
  });

  test.each(['sys', 'io', 'namespace', 'stream', 'net', 'launch', 'open'])('the %s layer hands out values, not re-export getters', (layer) => {
    const m = require(join(DIST, layer));
    const getters = Object.keys(m).filter((k) => Object.getOwnPropertyDescriptor(m, k)!.get);
    expect(Object.keys(m).length).toBeGreaterThan(0);
    expect(getters).toEqual([]);
    expect(m.__esModule).toBe(true);
  });

  test('an fdp csopen of a running service loads neither the tcp/udp layer, node:net nor auto-start', async () => {
    const listener = await listen('/dev/fdp/local/startup');
    const accepted: Connection[] = [];
    listener.on('connection', (c: Connection) => accepted.push(c));
    try {
      const cs = `const cs = require(${JSON.stringify(ROOT)});`;
      const { modules, builtins } = await loadedBy(`cs.csclose(cs.csopen('/dev/fdp/local/startup'));`, cs);
      expect(modules.filter((m) => m.startsWith('net/') || m.startsWith('caps/'))).toEqual([]);
      expect(modules).not.toContain('open/start.js');
      expect(modules).not.toContain('open/svc.js');
      expect(modules).not.toContain('launch/spawn.js');
      expect(builtins.filter((b) => ['child_process', 'dgram', 'worker_threads', 'crypto', 'dns', 'net', 'stream'].includes(b))).toEqual([]);
    } finally {
      for (const c of accepted) c.destroy();
      listener.close();
    }
  }, 30_000);
});
