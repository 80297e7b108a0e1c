// What /proc says about another process (Linux only): memory, open files and their limit.
import { readdirSync, readFileSync } from 'node:fs';

/** VmRSS of `pid` in KiB, or null when the process is gone. */
export function rssKb(pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** The soft open-file limit `pid` runs with, or null. */
export function fileLimitOf(pid) {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return match ? (match[1] === 'unlimited' ? Infinity : Number(match[1])) : null;
  } catch {
    return null;
  }
}

/** `pid` and its child processes (a KPC primary and its workers), from /proc/<pid>/task/<tid>/children. */
export function processTree(pid) {
  try {
    const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    return [pid, ...children];
  } catch {
    return [pid];
  }
}

/** VmRSS summed over `pids` in KiB, or null when one is gone. */
export function totalRssKb(pids) {
  const each = pids.map(rssKb);
  return each.includes(null) ? null : each.reduce((sum, kb) => sum + kb, 0);
}

/** How many file descriptors `pid` has open, or null. */
export function openFiles(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** This process's own hard open-file limit (what children can be raised to without CAP_SYS_RESOURCE). */
export function hardFileLimit() {
  return fileLimitHard(process.pid);
}

function fileLimitHard(pid) {
  try {
    const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return match ? (match[2] === 'unlimited' ? Infinity : Number(match[2])) : null;
  } catch {
    return null;
  }
}
