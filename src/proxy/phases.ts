/**
 * The life of a forwarded request and of an upgrade, written down: what can happen in each phase,
 * and where it leads. An event a phase does not list is refused: it comes too late (a timeout
 * after the answer started, an error after the ambassador already answered) and changes nothing.
 */

/**
 * An ordinary request: `sending` while its body goes up, `sent` while the API server has it all,
 * `responding` once the answer started; `failed` once it cannot succeed (the ambassador answered,
 * or the answer broke off); `done` when the client's response closed and the request is recorded.
 */
export type ExchangePhase = 'admitted' | 'sending' | 'sent' | 'responding' | 'failed' | 'done';

export type ExchangeEvent =
  'forward' | 'requestSent' | 'response' | 'deadline' | 'upstreamError' | 'panic' | 'clientClose';

type Transitions<P extends string, E extends string> = Readonly<Record<P, Readonly<Partial<Record<E, P>>>>>;

const EXCHANGE_TRANSITIONS: Transitions<ExchangePhase, ExchangeEvent> = {
  admitted: { forward: 'sending', panic: 'failed', clientClose: 'done' },
  sending: {
    requestSent: 'sent',
    response: 'responding',
    deadline: 'failed',
    upstreamError: 'failed',
    panic: 'failed',
    clientClose: 'done',
  },
  sent: { response: 'responding', deadline: 'failed', upstreamError: 'failed', panic: 'failed', clientClose: 'done' },
  // A panic once the answer streams is logged only: the client already has the API server's status.
  responding: { upstreamError: 'failed', clientClose: 'done' },
  failed: { clientClose: 'done' },
  done: {},
};

/** Where `event` takes an exchange in `phase`, or undefined when it is refused. */
export function nextExchangePhase(phase: ExchangePhase, event: ExchangeEvent): ExchangePhase | undefined {
  return EXCHANGE_TRANSITIONS[phase][event];
}

/** An upgrade: `awaiting` its 101, `joined` to the API server's socket, `done` once recorded. */
export type TunnelPhase = 'awaiting' | 'joined' | 'done';

/** `refused`: any answer but a 101, an upstream error, the upstream timeout, or the client leaving first. */
export type TunnelEvent = 'upgraded' | 'refused' | 'closed';

const TUNNEL_TRANSITIONS: Transitions<TunnelPhase, TunnelEvent> = {
  awaiting: { upgraded: 'joined', refused: 'done' },
  joined: { closed: 'done' },
  done: {},
};

/** Where `event` takes a tunnel in `phase`, or undefined when it is refused. */
export function nextTunnelPhase(phase: TunnelPhase, event: TunnelEvent): TunnelPhase | undefined {
  return TUNNEL_TRANSITIONS[phase][event];
}
