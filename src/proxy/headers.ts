/**
 * Header rules. Outgoing request headers are built from an allow-list instead of copied, so a local
 * client's credentials, impersonation, forwarding and hop-by-hop headers never reach the API server,
 * and an upgrade's protocol offers are rebuilt from the protocols Kubernetes speaks; headers that ask
 * for something the ambassador will not do, or that it could forward only ambiguously, are refused.
 */
import { badRequest, forbidden, type ProxyStatus } from './status.ts';

/**
 * End-to-end request headers the API server uses, each with its bit in a request's mask of
 * single-value headers, or 0 when it may repeat. Node's HTTP/2 client throws
 * ERR_HTTP2_HEADER_SINGLE_VALUE on a second one of these (lib/internal/http2/util.js:
 * kSingleValueHeaders in Node 20, kSingleValueFields in Node 24), and over HTTP/1.1 kube-apiserver
 * would act on the first alone (Go's `http.Header.Get`). A repeated one is refused instead, so the
 * answer never depends on which protocol the API server speaks, nor on which copy was meant; no
 * Kubernetes client sends two.
 */
const FORWARDED_REQUEST_HEADERS: ReadonlyMap<string, number> = new Map([
  ['accept', 0],
  ['accept-encoding', 0],
  ['accept-language', 0],
  ['cache-control', 0],
  ['content-encoding', 1 << 0],
  ['content-length', 1 << 1],
  ['content-type', 1 << 2],
  ['if-match', 1 << 3],
  ['if-modified-since', 1 << 4],
  ['if-none-match', 1 << 5],
  ['if-unmodified-since', 1 << 6],
  ['kubectl-command', 0],
  ['kubectl-session', 0],
  ['pragma', 0],
  ['traceparent', 0],
  ['tracestate', 0],
  ['user-agent', 1 << 7],
]);
/** Forwarded only on upgrades, where they negotiate the WebSocket session end to end. */
const FORWARDED_UPGRADE_HEADERS = new Set(['sec-websocket-extensions', 'sec-websocket-key', 'sec-websocket-version']);
/**
 * WebSocket subprotocols the API server or, behind it, the kubelet accepts: v5 in the API server's
 * translator (k8s.io/apiserver pkg/util/proxy/websocket.go), the older channel protocols in the
 * kubelet's (pkg/kubelet/cri/streaming/remotecommand/websocket.go, portforward/websocket.go), and
 * port-forward tunnelled as SPDY (apimachinery pkg/util/portforward/constants.go) or as
 * v2.portforward.k8s.io (apiserver pkg/util/proxy/portforward/streamtranslator.go).
 */
const WEBSOCKET_SUBPROTOCOLS = new Set([
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
  'SPDY/3.1+portforward.k8s.io',
  'v2.portforward.k8s.io',
]);
/**
 * SPDY stream protocols the kubelet accepts in X-Stream-Protocol-Version: httpstream.Handshake with
 * apimachinery pkg/util/remotecommand SupportedStreamingProtocols, and portforward.k8s.io.
 */
const STREAM_PROTOCOL_VERSIONS = new Set([
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
  'portforward.k8s.io',
]);
const NO_WEBSOCKET_SUBPROTOCOL =
  `the Sec-WebSocket-Protocol header offers no subprotocol the API server speaks (${[...WEBSOCKET_SUBPROTOCOLS].join(', ')}); ` +
  "a bearer token subprotocol is never forwarded: requests act as the ambassador's own identity";
const NO_STREAM_PROTOCOL = `the X-Stream-Protocol-Version header offers no protocol the kubelet speaks (${[...STREAM_PROTOCOL_VERSIONS].join(', ')})`;
/** Method overrides are not honoured by the API server, but an intermediary might: refuse them. */
const METHOD_OVERRIDE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);
const IMPERSONATE_PREFIX = 'impersonate-';
/** RFC 9110 §7.6.1 hop-by-hop headers, plus the non-standard ones still seen in the wild. */
const HOP_BY_HOP_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/** The protocols a client offered in one of an upgrade's negotiation headers, and those of them kept. */
interface ProtocolOffer {
  offered: boolean;
  readonly kept: string[];
}

interface UpgradeOffers {
  /** The validated upgrade protocol: websocket or SPDY/3.1. */
  readonly upgrade: string;
  readonly webSocket: ProtocolOffer;
  readonly stream: ProtocolOffer;
}

/**
 * The headers to send upstream, as a flat `[name, value, …]` list (headers that may repeat, such as
 * Accept, kept in order), or the Status refusing the request.
 * `upgrade` is the validated protocol of an upgrade request, or undefined.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  upgrade: string | undefined,
): string[] | ProxyStatus {
  const headers: string[] = [];
  const offers: UpgradeOffers | undefined =
    upgrade === undefined
      ? undefined
      : { upgrade, webSocket: { offered: false, kept: [] }, stream: { offered: false, kept: [] } };
  let singleValuesSeen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    const singleValueBit = FORWARDED_REQUEST_HEADERS.get(name);
    if (singleValueBit !== undefined) {
      if ((singleValuesSeen & singleValueBit) !== 0) {
        return badRequest(`the ${rawHeaders[i]} header is repeated: send it once, with the one value meant`);
      }
      singleValuesSeen |= singleValueBit;
      headers.push(name, value);
    } else if (name === 'transfer-encoding') {
      // Node's server has already refused anything but a valid chunked coding; keep the body framed.
      headers.push(name, 'chunked');
    } else if (name.startsWith(IMPERSONATE_PREFIX)) {
      return forbidden(
        `the ${rawHeaders[i]} header is not allowed: the ambassador does not forward impersonation, so requests always act as its own identity`,
      );
    } else if (METHOD_OVERRIDE_HEADERS.has(name)) {
      return badRequest(`the ${rawHeaders[i]} header is not allowed: send the real HTTP method instead`);
    } else if (offers !== undefined) {
      addUpgradeHeader(headers, offers, name, value);
    }
  }
  return offers === undefined ? headers : withNegotiation(headers, offers);
}

/**
 * Puts the ambassador's span between the client and the API server: the client's `traceparent`
 * and `tracestate` (lower-case in `headers`, as built above) give way to the span's, which carry
 * the client's trace on. Edits the flat list in place.
 */
export function replaceTraceContext(headers: string[], traceparent: string, tracestate: string | undefined): void {
  let kept = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] ?? '';
    if (name === 'traceparent' || name === 'tracestate') continue;
    headers[kept] = name;
    headers[kept + 1] = headers[i + 1] ?? '';
    kept += 2;
  }
  headers.length = kept;
  headers.push('traceparent', traceparent);
  if (tracestate !== undefined && tracestate !== '') headers.push('tracestate', tracestate);
}

function addUpgradeHeader(headers: string[], offers: UpgradeOffers, name: string, value: string): void {
  if (FORWARDED_UPGRADE_HEADERS.has(name)) headers.push(name, value);
  else if (name === 'sec-websocket-protocol') addOffer(offers.webSocket, value, WEBSOCKET_SUBPROTOCOLS);
  else if (name === 'x-stream-protocol-version') addOffer(offers.stream, value, STREAM_PROTOCOL_VERSIONS);
}

/**
 * Adds one header's entries to the offer: split on commas, trimmed, empty ones skipped, as
 * kube-apiserver reads them (websocket/protocol.go, httpstream.Handshake).
 */
function addOffer(offer: ProtocolOffer, value: string, known: ReadonlySet<string>): void {
  for (const entry of value.split(',')) {
    const protocol = entry.trim();
    if (protocol === '') continue;
    offer.offered = true;
    if (known.has(protocol)) offer.kept.push(protocol);
  }
}

/** The upgrade's headers with the protocols kept of each offer, or the Status refusing an offer with none kept. */
function withNegotiation(headers: string[], offers: UpgradeOffers): string[] | ProxyStatus {
  // A `base64url.bearer.authorization.k8s.io.<token>` subprotocol is another identity's credential:
  // kube-apiserver authenticates with it whenever the ambassador's own credential is refused (its
  // union authenticator tries the Authorization header first, then this: k8s.io/apiserver
  // pkg/authentication/request/websocket/protocol.go), and otherwise may pass it on to the kubelet.
  // It is dropped, as a client's Authorization is, never decoded nor logged: refusing the upgrade
  // instead would break clients that send it only because browsers cannot set Authorization on a
  // WebSocket. Entries no server speaks are dropped too. The rest go in one header: the API
  // server routes on the first header's entries alone (wsstream.IsWebSocketRequestWithStreamCloseProtocol
  // reads Header.Get), and protocol.go rewrites the header that way itself.
  const { upgrade, webSocket, stream } = offers;
  if (webSocket.offered) {
    if (webSocket.kept.length === 0) return badRequest(NO_WEBSOCKET_SUBPROTOCOL);
    headers.push('sec-websocket-protocol', webSocket.kept.join(', '));
  }
  if (stream.offered) {
    if (stream.kept.length === 0) return badRequest(NO_STREAM_PROTOCOL);
    // One header each, as client-go sends them: kubelets before 1.19 did not split a list on commas.
    for (const protocol of stream.kept) headers.push('x-stream-protocol-version', protocol);
  }
  headers.push('connection', 'Upgrade', 'upgrade', upgrade);
  return headers;
}

/** Upstream response headers without hop-by-hop ones, pseudo-headers (nor `omit`), as a flat list for `writeHead`. */
export function clientResponseHeaders(rawHeaders: readonly string[], omit?: string): string[] {
  const connectionListed = connectionTokens(rawHeaders);
  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    const lower = name.toLowerCase();
    // Pseudo-headers (`:status`) come with HTTP/2 answers and have no HTTP/1.1 form.
    if (
      HOP_BY_HOP_RESPONSE_HEADERS.has(lower) ||
      connectionListed?.has(lower) ||
      lower === omit ||
      lower.startsWith(':')
    )
      continue;
    headers.push(name, rawHeaders[i + 1] ?? '');
  }
  return headers;
}

/** Header names listed in `Connection` (RFC 9110 §7.6.1), which are hop-by-hop too. */
function connectionTokens(rawHeaders: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] ?? '').toLowerCase() !== 'connection') continue;
    for (const token of (rawHeaders[i + 1] ?? '').split(',')) {
      const trimmed = token.trim().toLowerCase();
      if (trimmed !== '' && trimmed !== 'close' && trimmed !== 'keep-alive') (tokens ??= new Set()).add(trimmed);
    }
  }
  return tokens;
}

/** A raw HTTP/1.1 response head, for answers written straight onto an upgraded socket. */
export function rawResponseHead(statusCode: number, statusMessage: string, headers: readonly string[]): string {
  let head = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + '\r\n';
}
