// Test hosts made of network namespaces: each host is a namespace with one veth
// link to a shared bridge, an address in a private subnet that exists only inside
// these namespaces, its own cs namespace root and config dir, and a name in a hosts
// file the test provides (CS_HOSTS_FILE). Nothing is routed outside: traffic never
// leaves the namespaces. Needs root; teardown removes everything setup made.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finish, type Finished } from './helpers';

export interface TestHost {
  /** Its host name (in the hosts file). */
  name: string;
  address: string;
  /** The network namespace it runs in. */
  netns: string;
  /** Its own cs namespace root and XDG config dir (key files). */
  root: string;
  config: string;
}

export interface TestNet {
  hosts: TestHost[];
  /** The hosts file every host resolves names with. */
  hostsFile: string;
  /** Status directory shared by all hosts, as an NFS-mounted one would be. */
  statDir: string;
  dir: string;
  /** The environment a process on `host` runs with. */
  env(host: TestHost, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
}

const made: { netns: string[]; dirs: string[]; children: Set<ChildProcess> } = { netns: [], dirs: [], children: new Set() };

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** Why network namespaces cannot be used here, or null when they can. */
export function unavailable(): string | null {
  if (process.geteuid?.() !== 0) return 'network namespace tests need root (CI runs them as root)';
  const probe = `csprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot create a network namespace: ${r.error?.message ?? r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

/** Create `count` test hosts on one private subnet. Call teardown() in afterAll whatever happens. */
export function setup(count: number): TestNet {
  const tag = `${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  const subnet = `10.213.${1 + (process.pid % 250)}`;
  const dir = mkdtempSync(join(tmpdir(), 'cs-netns-'));
  chmodSync(dir, 0o755);
  made.dirs.push(dir);
  const hub = `cshub${tag}`;
  ip('netns', 'add', hub);
  made.netns.push(hub);
  ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', hub, 'link', 'set', 'br0', 'up');
  const hosts: TestHost[] = [];
  for (let i = 0; i < count; i++) {
    const netns = `csh${tag}n${i}`;
    ip('netns', 'add', netns);
    made.netns.push(netns);
    // create the pair inside the host namespace so no interface ever appears in ours
    ip('-n', netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `port${i}`);
    ip('-n', netns, 'link', 'set', `port${i}`, 'netns', hub);
    ip('-n', hub, 'link', 'set', `port${i}`, 'master', 'br0');
    ip('-n', hub, 'link', 'set', `port${i}`, 'up');
    const address = `${subnet}.${i + 1}`;
    ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', netns, 'link', 'set', 'eth0', 'up');
    ip('-n', netns, 'link', 'set', 'lo', 'up');
    const name = `host${i}-${tag}`;
    const root = join(dir, `${name}.root`);
    const config = join(dir, `${name}.config`);
    mkdirSync(root, { mode: 0o1777 });
    chmodSync(root, 0o1777);
    mkdirSync(config, { mode: 0o700 });
    hosts.push({ name, address, netns, root, config });
  }
  const hostsFile = join(dir, 'hosts');
  writeFileSync(hostsFile, hosts.map((h) => `${h.address} ${h.name}\n`).join(''));
  const statDir = join(dir, 'stat');
  mkdirSync(statDir, { mode: 0o1777 });
  return {
    hosts, hostsFile, statDir, dir,
    env: (host, extra = {}) => ({
      ...process.env, CS_MOUNT_LOCAL: host.root, CS_HOSTS_FILE: hostsFile, CS_STAT_DIR: statDir, XDG_CONFIG_HOME: host.config, ...extra,
    }),
  };
}

function spawnOn(host: TestHost, argv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', host.netns, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  made.children.add(child);
  child.once('exit', () => made.children.delete(child));
  return child;
}

/** Start a node script on `host`; resolves with its first stdout line (bounded by `ms`). */
export function startOn(host: TestHost, env: NodeJS.ProcessEnv, script: string, args: string[] = [], ms = 10000): Promise<{ child: ChildProcess; line: string; stderr: () => string }> {
  const child = spawnOn(host, [process.execPath, script, ...args], env);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} on ${host.name} printed nothing in ${ms} ms; stderr: ${stderr}`)), ms);
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ child, line: out.slice(0, nl), stderr: () => stderr });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} on ${host.name} exited (${code}) before it was ready; stderr: ${stderr}`));
    });
  });
}

/** Run a node script on `host` to completion (bounded by `ms`): its exit code and output. */
export function runOn(host: TestHost, env: NodeJS.ProcessEnv, script: string, args: string[] = [], ms = 15000): Promise<Finished> {
  return finish(spawnOn(host, [process.execPath, script, ...args], env), `${script} on ${host.name}`, ms);
}

/** Kill every process started on a test host, delete the namespaces (and with them the links) and files. */
export async function teardown(): Promise<void> {
  await Promise.all([...made.children].map((c) => new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGKILL');
  })));
  for (const netns of made.netns.splice(0).reverse()) {
    // servers started inside (detached, in their own sessions) keep a namespace alive: end them too
    const pids = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split(/\s+/u).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('ip', ['netns', 'del', netns]);
  }
  for (const dir of made.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
