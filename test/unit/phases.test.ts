import { describe, expect, it } from 'vitest';
import {
  nextExchangePhase,
  nextTunnelPhase,
  type ExchangeEvent,
  type ExchangePhase,
  type TunnelEvent,
  type TunnelPhase,
} from '../../src/proxy/phases.ts';

const EXCHANGE_EVENTS: readonly ExchangeEvent[] = [
  'forward',
  'requestSent',
  'response',
  'deadline',
  'upstreamError',
  'panic',
  'clientClose',
];

/** Every phase × event of a forwarded request: the next phase, or undefined where the event is refused. */
const EXCHANGE_TABLE: Record<ExchangePhase, Record<ExchangeEvent, ExchangePhase | undefined>> = {
  admitted: {
    forward: 'sending',
    requestSent: undefined,
    response: undefined,
    deadline: undefined,
    upstreamError: undefined,
    panic: 'failed',
    clientClose: 'done',
  },
  sending: {
    forward: undefined,
    requestSent: 'sent',
    response: 'responding',
    deadline: 'failed',
    upstreamError: 'failed',
    panic: 'failed',
    clientClose: 'done',
  },
  sent: {
    forward: undefined,
    requestSent: undefined,
    response: 'responding',
    deadline: 'failed',
    upstreamError: 'failed',
    panic: 'failed',
    clientClose: 'done',
  },
  responding: {
    forward: undefined,
    requestSent: undefined,
    response: undefined,
    deadline: undefined,
    upstreamError: 'failed',
    panic: undefined,
    clientClose: 'done',
  },
  failed: {
    forward: undefined,
    requestSent: undefined,
    response: undefined,
    deadline: undefined,
    upstreamError: undefined,
    panic: undefined,
    clientClose: 'done',
  },
  done: {
    forward: undefined,
    requestSent: undefined,
    response: undefined,
    deadline: undefined,
    upstreamError: undefined,
    panic: undefined,
    clientClose: undefined,
  },
};

const TUNNEL_TABLE: Record<TunnelPhase, Record<TunnelEvent, TunnelPhase | undefined>> = {
  awaiting: { upgraded: 'joined', refused: 'done', closed: undefined },
  joined: { upgraded: undefined, refused: undefined, closed: 'done' },
  done: { upgraded: undefined, refused: undefined, closed: undefined },
};

function cases<P extends string, E extends string>(
  table: Record<P, Record<E, P | undefined>>,
): [P, E, P | undefined][] {
  return (Object.entries(table) as [P, Record<E, P | undefined>][]).flatMap(([phase, row]) =>
    (Object.entries(row) as [E, P | undefined][]).map(([event, next]): [P, E, P | undefined] => [phase, event, next]),
  );
}

describe('the phases of a forwarded request', () => {
  it('lists every event for every phase', () => {
    for (const row of Object.values(EXCHANGE_TABLE))
      expect(Object.keys(row).sort()).toEqual([...EXCHANGE_EVENTS].sort());
  });

  it.each(cases(EXCHANGE_TABLE))('%s + %s → %s', (phase, event, next) => {
    expect(nextExchangePhase(phase, event)).toBe(next);
  });
});

describe('the phases of an upgrade', () => {
  it.each(cases(TUNNEL_TABLE))('%s + %s → %s', (phase, event, next) => {
    expect(nextTunnelPhase(phase, event)).toBe(next);
  });
});
