// The cs command line (yargs): which mode the options select, checked before
// anything runs (a wrong word is a usage error, exit status 2), and the exit status of the run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { PACKAGE_LIB } from '../namespace/entry';
import { parsePath } from '../path';
import { csport } from '../port';
import { interact } from './interactive';
import { parseSignal, signalServer } from './kill';
import { printListing, type Listing } from './listing';
import { openAndPrint, runOnStream } from './open';
import { asUsage, printJson, printLines, reportFailure, usageError } from './output';
import { prune } from './prune';
import { restartService } from '../launch/restart';
import { socketPlace } from './socket';
import { checkHost, translateHost } from './translate';

/** The options that each select what cs does; at most one may be given (-l with -s is -s). */
const MODES = {
  interactive: '-i', query: '-q', list: '-l', long: '-s', pids: '-p', mounts: '-m', kill: '-k', translate: '-t',
  prune: '--prune', socket: '--socket',
} as const;
type Mode = keyof typeof MODES | 'open';
/** Modes that act on one service and so need a PATH. */
const NEED_PATH: readonly Mode[] = ['open', 'interactive', 'query', 'kill', 'socket'];

/** What `cs --help` says after the options: exit statuses and the environment cs reads. */
const EPILOGUE = `Errors: one line on stderr, "cs: CODE: message" (CODE as in Node: ENOENT, EACCES, ...);
with --json, one JSON object on stderr: {code, errno, syscall, path, message, status}.

Exit status:
  0        success
  1        the operation failed (the error line says why)
  2        usage: an unknown option, a missing or extra operand, or a PATH, SIG,
           HOST or NAME that does not parse
  126/127  COMMAND cannot be run / is not found
  128+N    COMMAND was killed by signal N; otherwise COMMAND's own exit status

Environment:
  CS_MOUNT_LOCAL   namespace root (default /tmp/cs)
  CS_PATH          colon-separated directories holding lib/cs, searched first for launch entries
  CS_TIMEOUT_MS    how long a rendezvous step or a start may take (default 10000)
  CS_IDLE_MS       idle period before a server retires (default 300000; 0 never)
  CS_CAPS_MAXMSG   largest CAPS message a port takes and sends, in bytes (default 67108864)
  CS_DRAIN_MS      how long a replaced server may take to finish its clients (default 30000)
  CS_HOSTS_FILE    an /etc/hosts-style file used instead of the system resolver
  CS_REMOTE_SHELL  command that runs cs on another host (default ssh)
  CS_STAT_DIR      host status directory (default <root>/stat)
  CS_STAT_FREQ     seconds between host status updates (default 50)
  XDG_CONFIG_HOME  where the tcp key cs/key is looked for (default ~/.config)
  LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES  sockets handed to a server (systemd protocol)
  NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID  a server's readiness and watchdog reports (sd_notify)`;

interface Request {
  mode: Mode;
  path?: string;
  command: string[];
  signal?: string;
  host?: string;
  json: boolean;
}

function version(): string {
  return JSON.parse(readFileSync(join(PACKAGE_LIB, '..', '..', 'package.json'), 'utf8')).version;
}

/** The one mode the parsed options ask for, and its operands, checked; or a usage error. */
function request(a: Record<string, unknown>): Request {
  const given = (Object.keys(MODES) as (keyof typeof MODES)[]).filter((m) => a[m] !== undefined && a[m] !== false);
  const modes = given.includes('long') ? given.filter((m) => m !== 'list') : given;
  if (modes.length > 1) throw usageError(`${modes.map((m) => MODES[m]).join(' and ')} cannot be used together`);
  const mode: Mode = modes.length > 0 ? modes[0]! : 'open';
  const [path, ...command] = (a._ as (string | number)[]).map(String);
  const r: Request = { mode, path, command, json: a.json === true, signal: a.kill as string | undefined, host: a.translate as string | undefined };
  if (command.length > 0 && mode !== 'open') throw usageError(`a COMMAND runs only in plain 'cs PATH COMMAND' (not with ${MODES[mode]})`);
  if (command[0]?.startsWith('-')) throw usageError(`options go before PATH: '${command[0]}' after it would be the COMMAND`);
  if (mode === 'translate' && path !== undefined) throw usageError('-t takes a HOST and no PATH');
  if (mode === 'kill' && path === undefined && r.signal!.startsWith('/')) throw usageError(`-k needs a SIG before PATH: cs -k TERM ${r.signal}`);
  if (path === undefined && NEED_PATH.includes(mode)) {
    throw usageError(mode === 'open' ? 'missing PATH' : `${MODES[mode as keyof typeof MODES]} needs a PATH`);
  }
  if (path !== undefined) asUsage(() => parsePath(path));
  if (mode === 'kill') asUsage(() => parseSignal(r.signal!));
  if (mode === 'translate') asUsage(() => checkHost(r.host!));
  return r;
}

async function run(r: Request): Promise<number> {
  switch (r.mode) {
    case 'open':
      if (r.command.length > 0) return runOnStream(r.path!, r.command, r.json);
      await openAndPrint(r.path!, r.json);
      return 0;
    case 'interactive':
    case 'query':
      await interact(r.path!, r.mode === 'query', r.json);
      return 0;
    case 'kill': {
      const done = signalServer(r.signal!, r.path!);
      if (r.json) printJson(done);
      return 0;
    }
    case 'translate': {
      const t = await translateHost(r.host!);
      if (r.json) printJson(t);
      else printLines([t.address]);
      return 0;
    }
    case 'prune': {
      const pruned = prune(r.path);
      if (r.json) printJson(pruned);
      else printLines(pruned.map((p) => `${p.path} ${p.dir}`));
      return 0;
    }
    case 'socket': {
      const place = socketPlace(r.path!);
      if (r.json) printJson(place);
      else printLines([String(place.socket ?? place.port)]);
      return 0;
    }
    default:
      printListing(r.mode satisfies Listing, r.path, r.json);
      return 0;
  }
}

function openOptions(y: Argv): Argv {
  return y
    // everything after PATH is the COMMAND and its own arguments, verbatim: options included, numbers not parsed
    .parserConfiguration({ 'halt-at-non-option': true, 'parse-positional-numbers': false })
    .positional('path', { type: 'string', describe: 'a cs path: /dev/fdp/local/<service>[/<option>...]; for listings a directory like /dev/fdp' })
    .positional('command', { type: 'string', describe: 'run COMMAND with its stdin and stdout on the stream' })
    .option('interactive', { alias: 'i', type: 'boolean', describe: 'copy stdin to PATH and PATH to stdout until both ends close' })
    .option('query', { alias: 'q', type: 'boolean', describe: 'like -i, but only if the service runs: never start it' })
    .option('list', { alias: 'l', type: 'boolean', describe: 'list services (those under a DIR-PATH such as /dev/fdp/local if given)' })
    .option('long', { alias: 's', type: 'boolean', describe: 'long listing: owner uid, mode, server pid, path' })
    .option('pids', { alias: 'p', type: 'boolean', describe: 'list the pids of running servers with their paths' })
    .option('mounts', { alias: 'm', type: 'boolean', describe: 'list the mount directories of the namespace' })
    .option('kill', { alias: 'k', type: 'string', requiresArg: true, describe: 'send signal SIG (TERM, HUP, 9, -9, ...) to the server of PATH' })
    .option('translate', { alias: 't', type: 'string', requiresArg: true, describe: 'print the address of HOST (local: this host)' })
    .option('prune', { type: 'boolean', describe: 'remove the S-cs.mnt/P-cs.mnt records of dead servers (under DIR-PATH if given; only your own directories, root: all)' })
    .option('socket', { type: 'boolean', describe: 'print where PATH listens: the S-cs.mnt path (fdp) or the port (tcp/udp), for a systemd ListenStream=' })
    .example('cs /dev/fdp/local/echo', 'start echo if needed and print its canonical path')
    .example('echo hi | cs -i /dev/fdp/local/echo', 'a round trip through the echo service')
    .example('cs /dev/fdp/local/echo sh -c "echo hi; head -1 >&2"', 'a command talking to the service')
    .example('cs -s /dev/fdp', 'every fdp service with owner, mode and pid')
    .example('cs -k TERM /dev/fdp/local/echo', 'stop the echo server')
    .example('cs --socket /dev/fdp/local/echo', 'the socket path for a systemd .socket unit');
}

function restartOptions(y: Argv): Argv {
  return y
    .positional('path', { type: 'string', describe: 'the cs path of a running service that has a launch entry' })
    .option('drain', { type: 'number', requiresArg: true, describe: 'milliseconds the old server may take to finish its clients before it is killed (default $CS_DRAIN_MS, else 30000)' })
    .example('cs restart /dev/fdp/local/echo', 'replace the echo server by a new one started from its launch entry; no client is refused or dropped');
}

function portOptions(y: Argv): Argv {
  return y
    .positional('name', { type: 'string', describe: 'a service name or port number' })
    .option('proto', { choices: ['tcp', 'udp'] as const, default: 'tcp' as const, describe: 'the protocol whose services file entries apply' })
    .example('cs port lookupd', '28629: the hashed port of lookupd');
}

/** yargs' own messages, as cs words them. */
function usageDetail(message: string): string {
  const unknown = /^Unknown arguments?: (.*)$/u.exec(message);
  if (unknown) return `unknown option ${unknown[1]!.split(', ').map((o) => (o.length > 1 ? `--${o}` : `-${o}`)).join(', ')}`;
  const needs = /^Not enough arguments following: (.*)$/u.exec(message);
  if (needs) return `${needs[1]!.length > 1 ? '--' : '-'}${needs[1]} needs a value`;
  return message.replace(/\s*\n\s*/gu, ' ');
}

/** Run the cs command line `argv` (without node and script) and return the exit status. */
export async function cs(argv: string[]): Promise<number> {
  let status = 0;
  let json = false;
  // the help of the command being run: the top level or `port`
  let helpOf: Argv | null = null;
  const settle = async (a: Record<string, unknown>, context: Argv, work: () => Promise<number>) => {
    try {
      if (a.help) context.showHelp((text) => process.stdout.write(`${text}\n`));
      else if (a.version) process.stdout.write(`${version()}\n`);
      else status = await work();
    } catch (e) {
      status = reportFailure(e, json);
    }
  };
  const parser: Argv = yargs(argv)
    .scriptName('cs')
    .help(false)
    .version(false)
    .usage('cs [options] PATH [COMMAND [ARG...]]\n'
      + 'cs -l|-s|-p|-m|--prune [DIR-PATH]\n'
      + 'cs -k SIG PATH\n'
      + 'cs --socket PATH\n'
      + 'cs -t HOST\n'
      + 'cs port NAME [--proto tcp|udp]\n'
      + 'cs restart [--drain MS] PATH\n\n'
      + 'Open, start, list and signal cs services by path name.')
    .command('port [name]', 'print the tcp/udp port a service name maps to', (y) => (helpOf = portOptions(y)), (a) => settle(a, helpOf!, async () => {
      if (a.name === undefined) throw usageError('missing NAME');
      const name = String(a.name);
      const proto = a.proto as 'tcp' | 'udp';
      const answer = { service: name, proto, port: asUsage(() => csport(proto, name)) };
      if (a.json) printJson(answer);
      else printLines([String(answer.port)]);
      return 0;
    }))
    .command('restart [path]', 'replace the server of PATH by a new one without refusing or dropping a client', (y) => (helpOf = restartOptions(y)), (a) => settle(a, helpOf!, async () => {
      if (a.path === undefined) throw usageError('missing PATH');
      const path = String(a.path);
      asUsage(() => parsePath(path));
      const drain = a.drain as number | undefined;
      if (drain !== undefined && !(Number.isInteger(drain) && drain >= 0)) throw usageError(`--drain takes milliseconds, got '${a.drain}'`);
      const done = await restartService(path, drain);
      if (a.json) printJson(done);
      else printLines([`${done.newPid} ${done.path}`]);
      return 0;
    }))
    .command('$0 [path] [command..]', 'open PATH (starting its service if needed) and print its canonical path, or run COMMAND on it', openOptions,
      (a): Promise<void> => settle(a, parser, () => run(request(a))))
    .option('json', { type: 'boolean', global: true, describe: 'print results (and errors, on stderr) as JSON' })
    // help and version are options of the command being run, so after PATH they belong to COMMAND
    .option('help', { alias: 'h', type: 'boolean', global: true, skipValidation: true, describe: 'show this help' })
    .option('version', { type: 'boolean', global: true, skipValidation: true, describe: 'print the version of cs' })
    .middleware((a) => {
      json = a.json === true;
    }, true)
    .epilogue(EPILOGUE)
    .strict()
    .exitProcess(false)
    .fail((message, err) => {
      throw usageError(usageDetail(message ?? err.message));
    })
    .wrap(Math.min(100, process.stdout.columns || 100));
  try {
    await parser.parseAsync();
  } catch (e) {
    return reportFailure(e, json);
  }
  return status;
}
