// The package as users load it: by name, with require() and with import, types included.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const pkg = require('../package.json');
let app: string;

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), 'cs-pkg-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(ROOT, join(app, 'node_modules', pkg.name));
});
afterAll(() => rmSync(app, { recursive: true, force: true }));

function run(file: string, text: string): string {
  writeFileSync(join(app, file), text);
  const r = spawnSync(process.execPath, [file], { cwd: app, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

const API = ['csopen', 'csrecv', 'cssend', 'cspoll', 'cspath', 'csclose', 'open', 'listen', 'parsePath', 'csport', 'CS_OPEN_CREATE'];

test('require() by package name gives the whole API', () => {
  const out = run('a.cjs', `const cs = require('${pkg.name}'); console.log(${JSON.stringify(API)}.filter((k) => cs[k] === undefined).join(','))`);
  expect(out).toBe('');
});

test('import by package name gives the same named exports', () => {
  const out = run('b.mjs', `import * as cs from '${pkg.name}'; import { csopen } from '${pkg.name}'; console.log(typeof csopen + ':' + ${JSON.stringify(API)}.filter((k) => cs[k] === undefined).join(','))`);
  expect(out).toBe('function:');
});

test('types and the cs command ship where package.json says', () => {
  expect(existsSync(join(ROOT, pkg.types))).toBe(true);
  expect(existsSync(join(ROOT, pkg.bin.cs))).toBe(true);
});
