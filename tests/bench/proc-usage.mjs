/**
 * proc-usage.mjs -- what other processes use, read from /proc (Linux only): CPU time, of one
 * process or of one with its children; the memory of a group of processes that share some
 * (PostgreSQL's backends and their shared buffers); and a process's children. For the benchmarks that measure a server they started;
 * a process's own resident set is real-server.js's rssOf.
 *
 * Every reader answers 0 (or nothing) for a process that is gone: the processes read are
 * another program's, and may end between a listing and a read.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** /proc/<pid>/stat's fields after the command name (which may hold spaces), or null. */
function statFields(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(' ');
  } catch {
    return null;
  }
}

/**
 * CPU time a process has used so far (user + system), in seconds. The kernel counts it in
 * USER_HZ ticks, 100 a second on every architecture Node runs on.
 */
export function cpuSecondsOf(pid) {
  const fields = statFields(pid);
  // utime and stime are fields 14 and 15 of stat, 11 and 12 after the command name.
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : 0;
}

/**
 * CPU time of a process and its children, in seconds: its own, what its live children have
 * used, and what its ended children used (the kernel adds a child's time to its parent's
 * cutime and cstime once the parent has reaped it). So a server that forks a process per
 * connection (PostgreSQL) is counted whole, and the count never goes down when a child ends.
 */
export function treeCpuSecondsOf(pid) {
  // utime, stime, cutime, cstime: fields 14 to 17 of stat, 11 to 14 after the command name.
  const withReaped = (p) => (statFields(p)?.slice(11, 15) ?? []).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
  return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + withReaped(p), 0);
}

/**
 * Proportional set size of a process in MiB: its private pages plus its share of the pages it
 * shares. Unlike RSS, PSS adds up over a group without counting shared memory (PostgreSQL's
 * shared buffers) once per process.
 */
export function pssMiBOf(pid) {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The processes whose parent is `pid` (one scan of /proc). */
export function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    // ppid is field 4 of stat, 1 after the command name.
    if (Number(statFields(entry)?.[1]) === pid) children.push(Number(entry));
  }
  return children;
}
