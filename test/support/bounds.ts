/** Bounds the fault tests hold to: how long to wait for something, and how much the kernel may buffer. */
import { readFileSync } from 'node:fs';

/** Resolves when the promise does; rejects with `what` if it takes longer than `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (waited ${timeoutMs} ms)`)), timeoutMs);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** The most the kernel lets one TCP socket's receive (`tcp_rmem`) or send (`tcp_wmem`) buffer grow to. */
export function tcpBufferMax(setting: 'tcp_rmem' | 'tcp_wmem'): number {
  return Number(readFileSync(`/proc/sys/net/ipv4/${setting}`, 'utf8').trim().split(/\s+/)[2]);
}
