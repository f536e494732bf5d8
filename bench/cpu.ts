/**
 * CPU time spent during a benchmark phase, read from Linux's /proc: the whole machine's
 * busy time (every core, every process: PostgreSQL's server processes included) and the
 * time of each Node-RED process. A throughput figure says how fast a system went on
 * this machine; CPU per change says what each change cost, and so how fast the system
 * could go on a machine where it is not sharing the cores (the benchmark's processes and
 * PostgreSQL all run on the same few cores here). Linux only: elsewhere nothing is read.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Clock ticks per second of /proc's figures (USER_HZ: 100 on every Linux build that matters here). */
const TICKS_PER_SECOND = 100;

interface Reading {
  /** Busy ticks of the whole machine (all cores). */
  machine: number;
  /** Busy ticks of each process (user + system). */
  processes: Map<number, number>;
}

/** Busy ticks of the machine: everything but idle and iowait, summed over cores. */
function machineTicks(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return user + nice + system + irq + softirq + (steal || 0);
}

/** utime + stime of one process (fields 14 and 15 of /proc/<pid>/stat, after the command name). */
function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(after[11]) + Number(after[12]);
}

function read(pids: readonly number[]): Reading | undefined {
  try {
    return { machine: machineTicks(), processes: new Map(pids.map((p) => [p, processTicks(p)])) };
  } catch {
    return undefined; // not Linux, or a process already gone: no figures rather than wrong ones
  }
}

export interface CpuPerChange {
  /** CPU milliseconds per change, whole machine (every process, the database server included). */
  machine: number;
  /** ... of each named process. */
  [process: string]: number;
}

/**
 * Starts counting for the named processes; `end(changes)` gives CPU ms per change and
 * the share of the machine's cores that was busy, or undefined where /proc is not there.
 */
export function cpuMeter(named: Record<string, number | undefined>): { end(changes: number, seconds: number): { cpuMsPerChange: CpuPerChange; coresBusy: number; cores: number } | undefined } {
  const entries = Object.entries(named).filter((e): e is [string, number] => e[1] !== undefined);
  const start = read(entries.map(([, pid]) => pid));
  return {
    end(changes, seconds) {
      const stop = read(entries.map(([, pid]) => pid));
      if (!start || !stop || changes <= 0 || seconds <= 0) return undefined;
      const ms = (ticks: number): number => Math.round(((ticks * 1000) / TICKS_PER_SECOND / changes) * 1000) / 1000;
      const perChange: CpuPerChange = { machine: ms(stop.machine - start.machine) };
      for (const [name, pid] of entries) perChange[name] = ms((stop.processes.get(pid) ?? 0) - (start.processes.get(pid) ?? 0));
      const busySeconds = (stop.machine - start.machine) / TICKS_PER_SECOND;
      return { cpuMsPerChange: perChange, coresBusy: Math.round((busySeconds / seconds) * 100) / 100, cores: cpus().length };
    },
  };
}
