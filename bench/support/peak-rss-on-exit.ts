/**
 * Preloaded (`node --import`) into a process whose peak memory a benchmark reads: at exit, writes
 * the kernel's high-water mark of its resident set (VmHWM of /proc/self/status) to stderr.
 */
import { readFileSync } from 'node:fs';

process.on('exit', () => {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 'unknown';
  process.stderr.write(`VmHWM ${kb} kB\n`);
});
