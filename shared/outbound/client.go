// Package outbound builds the one http.Client a Herald process uses to POST
// webhooks to customer-supplied URLs.
//
// Customer URLs are attacker-controlled input: without a guard, a webhook
// pointed at http://169.254.169.254/ or http://10.0.0.5:8500/ turns the
// delivery worker into a proxy into our own network. The guard therefore runs
// where it cannot be bypassed — in net.Dialer.ControlContext, on the IP the
// socket is about to connect to, after DNS resolution — so a hostname that
// resolves to a public address at save time and to 127.0.0.1 at delivery
// time (DNS rebinding) is still refused, and no packet leaves the host.
// CheckURL repeats the check at save time only to give API clients an early,
// readable error.
//
// The package is deliberately free of AWS (and any non-stdlib) imports so
// that domain code in shared/ can use it everywhere.
package outbound

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

const (
	// DefaultMaxConnsPerHost bounds concurrent connections to one customer
	// host when Options.MaxConnsPerHost is 0. Go's default is unlimited, so
	// a backlog of 1,000 events for one slow endpoint would open 1,000
	// sockets at once: that exhausts a 1,024 file-descriptor limit (the AWS
	// Lambda limit and a common ulimit) for every other customer on the
	// worker, and looks like a flood to the customer. 16 in-flight requests
	// per host still gives ~16 deliveries/s to an endpoint that takes a full
	// second per request, and lets 60+ hosts hang simultaneously before the
	// worker runs out of descriptors. Requests above the bound wait inside
	// the Transport for a free connection, and that wait counts against the
	// caller's per-attempt context deadline. Over HTTP/2 the bound counts
	// connections, each of which multiplexes many requests.
	DefaultMaxConnsPerHost = 16

	// DefaultDialTimeout applies when Options.DialTimeout is 0. A TCP
	// handshake to a live host takes one round trip (<300 ms even
	// intercontinental); a host that has not answered SYN within 5 s is
	// down or black-holing, and the kernel's own SYN retries (~127 s on
	// Linux) would otherwise eat the whole attempt budget.
	DefaultDialTimeout = 5 * time.Second

	// maxIdleConns is the idle pool across all hosts. An idle TLS
	// connection costs one descriptor and roughly 40-50 KB of buffers, so
	// 512 caps idle memory near 25 MB while keeping a warm connection to
	// hundreds of distinct customers during fan-out. http.DefaultTransport's
	// 100 would churn TLS handshakes once a worker serves more than 100
	// hosts.
	maxIdleConns = 512

	// idleConnTimeout is below the 60 s idle timeout of AWS ALB and the 75 s
	// keepalive_timeout of nginx, the most common things in front of
	// customer endpoints, so we close idle connections before the server
	// does instead of racing its FIN with a new POST (a POST that loses that
	// race after being written is not retried by the Transport and would
	// surface as a spurious failed delivery). Servers with shorter timeouts
	// (Node.js: 5 s) send a FIN that the Transport's background read
	// notices, dropping the connection from the pool before reuse.
	idleConnTimeout = 50 * time.Second

	// tlsHandshakeTimeout caps the handshake even when a caller passes a
	// generous deadline: a healthy handshake is 1-2 round trips, so 10 s
	// (Go's default) only trips for a stalled or tarpitting server.
	tlsHandshakeTimeout = 10 * time.Second

	// maxResponseHeaderBytes caps what a customer endpoint can make us
	// buffer per attempt. Go's default is 1 MB; we only read the status
	// line and a few headers, and 64 KB is still 8x the 8 KB header limit
	// of nginx and Apache.
	maxResponseHeaderBytes = 64 << 10

	// tcpKeepAlive probes idle pooled connections so that dead peers (NAT
	// gateways drop idle flows after 350 s on AWS) are detected before
	// reuse rather than by a failed delivery.
	tcpKeepAlive = 30 * time.Second
)

// Options tunes NewClient. The zero value is the production configuration.
type Options struct {
	// AllowLoopback is the local-only escape hatch for tests and the
	// single-machine mode: it permits 127.0.0.0/8 and ::1 ONLY. Private,
	// link-local, metadata and every other blocked range stay refused.
	AllowLoopback bool

	// MaxConnsPerHost bounds concurrent connections per host. 0 (or a
	// negative value) means DefaultMaxConnsPerHost; see there for why.
	MaxConnsPerHost int

	// DialTimeout bounds the TCP connect. 0 (or a negative value) means
	// DefaultDialTimeout.
	DialTimeout time.Duration
}

// NewClient returns the SSRF-safe client for webhook delivery. Create one per
// process and share it: its connection pool is the point.
//
// The client has NO overall timeout (http.Client.Timeout is 0) and the
// Transport has no ResponseHeaderTimeout: each delivery attempt must be made
// with a context carrying its own deadline (http.NewRequestWithContext),
// which bounds dial, TLS, waiting for a pooled connection, writing the body
// and reading the response as one budget. A client-level timeout would be a
// second, conflicting clock that cannot vary per endpoint or per attempt.
//
// Redirects are not followed: a 3xx comes back as the response, so the
// caller records it (a webhook endpoint that redirects is misconfigured, and
// following it would re-POST the payload to a target we never validated).
//
// Every dial is checked with CheckIP after DNS resolution; a refused
// destination fails with an error for which errors.Is(err,
// ErrBlockedAddress) is true.
func NewClient(opts Options) *http.Client {
	return &http.Client{
		Transport:     newTransport(opts),
		CheckRedirect: noRedirects,
		// Timeout deliberately 0: see the doc comment.
	}
}

func noRedirects(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}

func newTransport(opts Options) *http.Transport {
	maxConns := opts.MaxConnsPerHost
	if maxConns <= 0 {
		maxConns = DefaultMaxConnsPerHost
	}
	return &http.Transport{
		// No proxy, and explicitly not http.ProxyFromEnvironment: with a
		// proxy the dialer connects to the proxy and the proxy connects to
		// the customer URL, so the IP check would vet the proxy's address
		// and a webhook to 169.254.169.254 would sail through HTTPS_PROXY.
		Proxy:       nil,
		DialContext: newDialer(opts).DialContext,
		// Setting DialContext (or TLSClientConfig) silently disables HTTP/2
		// in net/http unless this is set; many customer endpoints sit behind
		// HTTP/2 CDNs where one multiplexed connection replaces 16.
		ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{
			// TLS 1.0/1.1 are deprecated (RFC 8996) and absent from every
			// mainstream CDN and load balancer.
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout: tlsHandshakeTimeout,
		MaxIdleConns:        maxIdleConns,
		// Go's default MaxIdleConnsPerHost is 2: with 16 concurrent
		// deliveries to one host, 14 connections would be closed after
		// every request and re-dialled with a full TCP+TLS handshake
		// (2-3 round trips each), so connection reuse collapses as soon as
		// more than two deliveries to one host overlap. Keep every
		// connection we are allowed to open.
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     idleConnTimeout,
		// ResponseHeaderTimeout left 0: the per-attempt context deadline
		// bounds it (see NewClient).
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// DisableCompression left false: the Transport asks for gzip and
		// transparently decodes it, which only affects the small response
		// body we keep for logs.
	}
}

func newDialer(opts Options) *net.Dialer {
	timeout := opts.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	g := guard{allowLoopback: opts.AllowLoopback}
	return &net.Dialer{
		Timeout:   timeout,
		KeepAlive: tcpKeepAlive,
		// ControlContext runs once per candidate IP, after DNS resolution
		// and before connect(2): returning an error aborts that attempt
		// before any packet is sent. The Resolver's own connections to the
		// DNS server do not pass through here.
		ControlContext: g.control,
	}
}

// guard carries the per-client policy into the dialer's control hook.
type guard struct {
	allowLoopback bool
}

func (g guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp4", "tcp6", "tcp":
	default:
		// HTTP only dials TCP; anything else is unexpected, so fail closed.
		return fmt.Errorf("%w: network %q is not TCP", ErrBlockedAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: an address we cannot parse is an address we cannot
		// vouch for.
		return fmt.Errorf("%w: cannot parse dial address %q: %w", ErrBlockedAddress, address, err)
	}
	return CheckIP(ap.Addr(), g.allowLoopback)
}
