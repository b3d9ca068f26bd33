// What the status daemon measures on this host: uptime, load, CPU shares since the
// previous sample (/proc/stat), and logged-in users with their idle time (utmp and
// the access times of their terminals).
import { readFileSync, statSync } from 'node:fs';
import { loadavg, uptime } from 'node:os';
import type { CsStat } from '../../src/net/stat';

const UTMP = '/var/run/utmp';
const UTMP_RECORD = 384; // struct utmp on Linux (x86_64 and arm64)
const USER_PROCESS = 7;
const DAY = 24 * 60 * 60;

interface CpuTimes {
  user: number;
  system: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  // cpu  user nice system idle iowait irq softirq steal ...
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/u).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq] = f;
  return { user: user + nice, system: system + irq + softirq, total: f.reduce((a, b) => a + b, 0) };
}

/** Seconds since each logged-in user's terminal was last used, by user name. */
function terminalIdle(now: number): Map<string, number> {
  const idle = new Map<string, number>();
  let utmp: Buffer;
  try {
    utmp = readFileSync(UTMP);
  } catch {
    return idle;
  }
  const text = (b: Buffer) => b.toString('latin1').replace(/\0.*$/su, '');
  for (let off = 0; off + UTMP_RECORD <= utmp.length; off += UTMP_RECORD) {
    if (utmp.readInt16LE(off) !== USER_PROCESS) continue;
    const line = text(utmp.subarray(off + 8, off + 40));
    const user = text(utmp.subarray(off + 44, off + 76));
    let seconds: number;
    try {
      seconds = Math.max(0, Math.round((now - statSync(`/dev/${line}`).atimeMs) / 1000));
    } catch {
      continue;
    }
    idle.set(user, Math.min(seconds, idle.get(user) ?? Infinity));
  }
  return idle;
}

/**
 * Clock ticks (summed over all CPUs) a share must span before it is reported over a
 * new window: /proc/stat counts in ticks, so a window of a few ticks could only say
 * 0, 50 or 100 %. 200 ticks give half-percent resolution.
 */
const MIN_WINDOW_TICKS = 200;

/**
 * Successive status samples. CPU shares are over the time since the previous sample
 * (since boot at first); a sample too soon after the previous one to measure (fewer
 * than MIN_WINDOW_TICKS) reports over the window before it too, which is long enough.
 */
export class StatusSampler {
  #start: CpuTimes = { user: 0, system: 0, total: 0 };
  #last: CpuTimes = this.#start;

  sample(): CsStat {
    const cpu = cpuTimes();
    const recent = cpu.total - this.#last.total < MIN_WINDOW_TICKS;
    const from = recent ? this.#start : this.#last;
    const spent = cpu.total - from.total || 1;
    const pct = (part: number) => Math.min(100, Math.max(0, Math.round((100 * part) / spent)));
    const pctusr = pct(cpu.user - from.user);
    const pctsys = pct(cpu.system - from.system);
    if (!recent) [this.#start, this.#last] = [this.#last, cpu];
    const up = Math.round(uptime());
    const idle = [...terminalIdle(Date.now()).values()];
    return {
      up,
      load: Math.round(loadavg()[0] * 100),
      // nobody logged in: the console has been idle since boot
      idle: idle.length ? Math.min(...idle) : up,
      users: idle.filter((s) => s < DAY).length,
      pctusr,
      pctsys,
    };
  }
}
