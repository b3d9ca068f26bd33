// The cs command line (yargs): which mode the options select, checked before
// anything runs, and the exit status of the run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { PACKAGE_LIB } from '../namespace/entry';
import { csport } from '../port';
import { interact } from './interactive';
import { printListing, type Listing } from './listing';
import { signalServer } from './kill';
import { openAndPrint, runOnStream } from './open';
import { printJson, printLines, reportFailure, UsageError } from './output';
import { translateHost } from './translate';

/** The options that each select what cs does; at most one may be given (-l with -s is -s). */
const MODES = {
  interactive: '-i', query: '-q', list: '-l', long: '-s', pids: '-p', mounts: '-m', kill: '-k', translate: '-t',
} as const;
type Mode = keyof typeof MODES | 'open';

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

/** The one mode the parsed options ask for, and its operands, or a UsageError. */
function request(a: Record<string, unknown>): Request {
  const given = (Object.keys(MODES) as (keyof typeof MODES)[]).filter((m) => a[m] !== undefined && a[m] !== false);
  const modes = given.includes('long') ? given.filter((m) => m !== 'list') : given;
  if (modes.length > 1) throw new UsageError(`${modes.map((m) => MODES[m]).join(' and ')} cannot be used together`);
  const mode: Mode = modes.length > 0 ? modes[0]! : 'open';
  const [path, ...command] = (a._ as (string | number)[]).map(String);
  const r: Request = { mode, path, command, json: a.json === true, signal: a.kill as string | undefined, host: a.translate as string | undefined };
  if (command.length > 0 && mode !== 'open') throw new UsageError(`a COMMAND runs only in plain 'cs PATH COMMAND' (not with ${MODES[mode]})`);
  if (command[0]?.startsWith('-')) throw new UsageError(`options go before PATH: '${command[0]}' after it would be the COMMAND`);
  if (mode === 'translate' && path !== undefined) throw new UsageError(`-t takes a HOST and no PATH`);
  if (path === undefined && ['open', 'interactive', 'query', 'kill'].includes(mode)) {
    throw new UsageError(mode === 'open' ? 'missing PATH (see cs --help)' : `${MODES[mode as keyof typeof MODES]} needs a PATH`);
  }
  return r;
}

async function run(r: Request): Promise<number> {
  switch (r.mode) {
    case 'open':
      if (r.command.length > 0) return runOnStream(r.path!, r.command);
      openAndPrint(r.path!, r.json);
      return 0;
    case 'interactive':
    case 'query':
      await interact(r.path!, r.mode === 'query');
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
    .option('kill', { alias: 'k', type: 'string', requiresArg: true, describe: 'send signal SIG (TERM, HUP, 9, ...) to the server of PATH' })
    .option('translate', { alias: 't', type: 'string', requiresArg: true, describe: 'print the address of HOST (local: this host)' })
    .example('cs /dev/fdp/local/echo', 'start echo if needed and print its canonical path')
    .example('echo hi | cs -i /dev/fdp/local/echo', 'a round trip through the echo service')
    .example('cs /dev/fdp/local/echo sh -c "echo hi; head -1 >&2"', 'a command talking to the service')
    .example('cs -s /dev/fdp', 'every fdp service with owner, mode and pid')
    .example('cs -k TERM /dev/fdp/local/echo', 'stop the echo server');
}

function portOptions(y: Argv): Argv {
  return y
    .positional('name', { type: 'string', describe: 'a service name or port number' })
    .option('proto', { choices: ['tcp', 'udp'] as const, default: 'tcp' as const, describe: 'the protocol whose services file entries apply' })
    .example('cs port lookupd', '28629: the hashed port of lookupd');
}

/** Run the cs command line `argv` (without node and script) and return the exit status. */
export async function cs(argv: string[]): Promise<number> {
  let status = 0;
  // failures of a command are reported here; whatever yargs itself rejects is a usage error
  const settle = async (work: () => Promise<number>) => {
    try {
      status = await work();
    } catch (e) {
      status = reportFailure(e);
    }
  };
  const parser = yargs(argv)
    .scriptName('cs')
    .usage('cs [options] PATH [COMMAND [ARG...]]\n'
      + 'cs -l|-s|-p|-m [DIR-PATH]\n'
      + 'cs -k SIG PATH\n'
      + 'cs -t HOST\n'
      + 'cs port NAME [--proto tcp|udp]\n\n'
      + 'Open, start, list and signal cs services by path name.')
    .command('port <name>', 'print the tcp/udp port a service name maps to', portOptions, (a) => settle(async () => {
      const answer = { service: String(a.name), proto: a.proto as 'tcp' | 'udp', port: csport(a.proto as 'tcp' | 'udp', String(a.name)) };
      if (a.json) printJson(answer);
      else printLines([String(answer.port)]);
      return 0;
    }))
    .command('$0 [path] [command..]', 'open PATH (starting its service if needed) and print its canonical path, or run COMMAND on it', openOptions,
      (a) => settle(() => run(request(a))))
    .option('json', { type: 'boolean', global: true, describe: 'print results as JSON' })
    .strict()
    .exitProcess(false)
    .fail((message, err) => {
      throw new UsageError(`${message ?? err.message} (see cs --help)`);
    })
    .version(version())
    .help();
  try {
    await parser.parseAsync();
  } catch (e) {
    return reportFailure(e);
  }
  return status;
}
