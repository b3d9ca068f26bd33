// The package as users get it: `npm pack`ed, installed by name into a fresh project,
// the README's 30-second example run there with require() and with import, its types
// checked by tsc, and its `cs` command run through npx.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { listServices } from '../src';
import { freshRoot, removeRoot } from './helpers';

const ROOT = resolve(__dirname, '..');
const NAME = 'connect-stream';
const HELLO = '/dev/fdp/local/hello';
let dir: string;
let app: string;
let root: string;
let packed: { filename: string; files: { path: string }[] };

/** Run a command to its end (bounded), in the test project unless told otherwise. */
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd: app, encoding: 'utf8', timeout: 60000, ...opts });
  return { code: r.status, pid: r.pid, stdout: String(r.stdout), stderr: String(r.stderr) };
}

beforeAll(() => {
  root = freshRoot();
  dir = mkdtempSync(join(tmpdir(), 'cs-pkg-'));
  // the tree as built: the test run built it, and a build now would race the other test files
  const pack = run('npm', ['pack', ROOT, '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: dir });
  expect(pack).toMatchObject({ code: 0 });
  [packed] = JSON.parse(pack.stdout);
  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  // dependencies come from the npm cache when it has them (CI just ran npm ci), else from the registry
  const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed.filename)], { timeout: 90000 });
  expect(install).toMatchObject({ code: 0 });
}, 120000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  removeRoot(root);
});

test('the tarball holds the LICENSE, the built code, types and launch entries, and no source maps or sources', () => {
  const files = packed.files.map((f) => f.path);
  expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'lib/cs/fdp/echo/server']));
  expect(files.filter((f) => f.endsWith('.map') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
  expect(readFileSync(join(app, 'node_modules', NAME, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} /);
  const installed = join(app, 'node_modules', NAME, 'dist');
  const mapped = readdirSync(installed, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js') && readFileSync(join(installed, f), 'utf8').includes('sourceMappingURL'));
  expect(mapped).toEqual([]);
});

test('require() and import by name give the same API, one instance of it, and package.json is exported', () => {
  writeFileSync(join(app, 'names.cjs'), `console.log(JSON.stringify([Object.keys(require('${NAME}')).sort(), require('${NAME}/package.json').name]))`);
  writeFileSync(join(app, 'names.mjs'), [
    `import * as cs from '${NAME}';`,
    `import { createRequire } from 'node:module';`,
    `if (cs.caps !== createRequire(import.meta.url)('${NAME}').caps) throw new Error('import and require loaded two copies');`,
    `console.log(JSON.stringify(Object.keys(cs).filter((k) => k !== 'default' && k !== '__esModule').sort()));`,
  ].join('\n'));
  const cjs = run(process.execPath, ['names.cjs']);
  const esm = run(process.execPath, ['names.mjs']);
  expect({ cjs: cjs.stderr, esm: esm.stderr }).toEqual({ cjs: '', esm: '' });
  const [names, name] = JSON.parse(cjs.stdout);
  expect(name).toBe(NAME);
  expect(names).toEqual(expect.arrayContaining(['open', 'listen', 'csopen', 'csrecv', 'cssend', 'cspoll', 'cspath', 'csclose', 'parsePath', 'caps', 'CS_OPEN_CREATE']));
  expect(JSON.parse(esm.stdout)).toEqual(names.filter((k: string) => k !== '__esModule'));
});

/** The README's js block that starts with `// <file>`, written into the test project. */
function readmeExample(file: string): void {
  const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```js\n(\/\/ ([\w.]+)[:\n][^]*?)```/g)];
  const block = blocks.find((b) => b[2] === file);
  expect(block).toBeDefined();
  writeFileSync(join(app, file), block![1]);
}

describe("the README's 30-second example, by package name", () => {
  let server: ChildProcess;
  let said = '';
  const env = () => ({ ...process.env, CS_MOUNT_LOCAL: root });

  beforeAll(async () => {
    for (const file of ['server.js', 'client.js', 'client.mjs']) readmeExample(file);
    server = spawn(process.execPath, ['server.js'], { cwd: app, env: env(), stdio: ['ignore', 'pipe', 'inherit'] });
    server.stdout!.on('data', (d) => (said += d));
    const until = Date.now() + 10000;
    while (!listServices(HELLO).some((s) => s.socket && s.alive)) {
      if (Date.now() > until) throw new Error(`server.js did not listen on ${HELLO} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(() => {
    server.kill('SIGKILL');
  });

  test.each(['client.js', 'client.mjs'])('%s receives the open /etc/hostname; server.js sees its pid and uid from the kernel', async (client) => {
    const r = run(process.execPath, [client], { env: env(), timeout: 20000 });
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: `${readFileSync('/etc/hostname', 'utf8')}\n` });
    const line = `client pid ${r.pid} uid ${process.geteuid!()}\n`;
    // the server's output arrives on this process's event loop, which the client's run blocked
    for (const until = Date.now() + 5000; !said.includes(line) && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
    expect(said).toContain(line);
  });
});

test("the public API's types check by name with tsc: test/types' usages pass and its misuses are refused", () => {
  // test/types holds the files and their tsconfig; the installed package's @types come from this checkout
  const types = join(ROOT, 'test', 'types');
  const config = JSON.parse(readFileSync(join(types, 'tsconfig.json'), 'utf8'));
  config.compilerOptions.typeRoots = [join(ROOT, 'node_modules', '@types')];
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(config));
  for (const file of config.files) writeFileSync(join(app, file), readFileSync(join(types, file)));
  const r = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.']);
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
}, 60000);

test("npx cs --help in the project runs the package's cs command", () => {
  // npm_config_yes=false: a missing bin fails here instead of fetching a stranger's package
  const r = run('npx', ['cs', '--help'], { env: { ...process.env, npm_config_yes: 'false' } });
  const ours = run(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'main.js'), '--help']);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^cs /);
  expect(r.stdout).toBe(ours.stdout);
});
