package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hookServer starts a loopback server that counts the requests it receives
// and echoes the body.
func hookServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func post(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"event":"ping"}`))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { _ = resp.Body.Close() })
	}
	return resp, err
}

func TestClientLoopback(t *testing.T) {
	t.Parallel()
	srv, hits := hookServer(t) // listens on 127.0.0.1
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name    string
		opts    Options
		url     string
		blocked bool
	}{
		{name: "loopback literal refused by default", opts: Options{}, url: srv.URL + "/hook", blocked: true},
		// "localhost" is not an IP, so nothing but the post-DNS dial check
		// can refuse it.
		{name: "localhost by name refused by default", opts: Options{}, url: "http://localhost:" + strconv.Itoa(port) + "/hook", blocked: true},
		{name: "loopback allowed with AllowLoopback", opts: Options{AllowLoopback: true}, url: srv.URL + "/hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := post(t, NewClient(tt.opts), tt.url)
			if tt.blocked {
				if !errors.Is(err, ErrBlockedAddress) {
					t.Fatalf("POST %s: err = %v, want ErrBlockedAddress", tt.url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("POST %s: %v", tt.url, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != http.StatusOK || string(body) != `{"event":"ping"}` {
				t.Fatalf("got %d %q, want 200 echo", resp.StatusCode, body)
			}
		})
	}
	t.Cleanup(func() {
		// Only the AllowLoopback case may have reached the handler.
		if n := hits.Load(); n != 1 {
			t.Errorf("server saw %d requests, want exactly 1", n)
		}
	})
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		followed.Store(true)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	resp, err := post(t, NewClient(Options{AllowLoopback: true}), srv.URL+"/hook")
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status = %d, want 302 returned to the caller", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/elsewhere" {
		t.Fatalf("Location = %q, want /elsewhere", loc)
	}
	if followed.Load() {
		t.Fatal("redirect was followed")
	}
}

// AllowLoopback must not open anything but loopback. The dial is refused in
// ControlContext before connect(2), so it fails immediately with
// ErrBlockedAddress instead of waiting out the context (and this machine has
// no route to these addresses, so a real connect would fail differently).
func TestClientAllowLoopbackStillRefusesInternal(t *testing.T) {
	t.Parallel()
	c := NewClient(Options{AllowLoopback: true})
	for _, target := range []string{
		"http://169.254.169.254:80/latest/meta-data/",
		"http://10.0.0.1/hook",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://0.0.0.0:80/", // reaches the local host on Linux
		"http://[::ffff:169.254.169.254]/",
	} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader("{}"))
			if err != nil {
				t.Fatalf("new request: %v", err)
			}
			start := time.Now()
			resp, err := c.Do(req)
			elapsed := time.Since(start)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatalf("POST %s succeeded, want ErrBlockedAddress", target)
			}
			if !errors.Is(err, ErrBlockedAddress) {
				t.Fatalf("POST %s: err = %v, want ErrBlockedAddress", target, err)
			}
			if ctx.Err() != nil || elapsed > time.Second {
				t.Fatalf("POST %s took %v (ctx err %v): refusal should be immediate", target, elapsed, ctx.Err())
			}
		})
	}
}

// The raw dialer, without http on top: the control hook refuses before any
// connect.
func TestDialerRefusesMetadata(t *testing.T) {
	t.Parallel()
	d := newDialer(Options{AllowLoopback: true, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", "169.254.169.254:80")
	if err == nil {
		_ = conn.Close()
		t.Fatal("dial to 169.254.169.254:80 succeeded")
	}
	if !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("dial err = %v, want ErrBlockedAddress", err)
	}
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Fatalf("dial took %v: the refusal must happen before connect", elapsed)
	}
}

// A custom DialContext/TLSClientConfig disables HTTP/2 unless
// ForceAttemptHTTP2 is set; check it is really negotiated.
func TestClientNegotiatesHTTP2(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c := NewClient(Options{AllowLoopback: true})
	tr := c.Transport.(*http.Transport)
	// Trust the test certificate, keeping our TLS settings.
	tr.TLSClientConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	resp, err := post(t, c, srv.URL+"/hook")
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("negotiated %s, want HTTP/2", resp.Proto)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS state %+v, want >= TLS 1.2", resp.TLS)
	}
}

func TestNewClientConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		opts         Options
		wantMaxConns int
	}{
		{name: "defaults", opts: Options{}, wantMaxConns: DefaultMaxConnsPerHost},
		{name: "negative means default", opts: Options{MaxConnsPerHost: -1, DialTimeout: -1}, wantMaxConns: DefaultMaxConnsPerHost},
		{name: "explicit", opts: Options{MaxConnsPerHost: 4, DialTimeout: time.Second}, wantMaxConns: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewClient(tt.opts)
			if c.Timeout != 0 {
				t.Errorf("client Timeout = %v, want 0 (per-attempt context deadlines)", c.Timeout)
			}
			if c.CheckRedirect == nil {
				t.Error("CheckRedirect is nil: redirects would be followed")
			}
			tr, ok := c.Transport.(*http.Transport)
			if !ok {
				t.Fatalf("Transport is %T", c.Transport)
			}
			if tr.Proxy != nil {
				t.Error("Proxy is set: proxies bypass the dial-time check")
			}
			if !tr.ForceAttemptHTTP2 {
				t.Error("ForceAttemptHTTP2 is false")
			}
			if tr.MaxConnsPerHost != tt.wantMaxConns || tr.MaxIdleConnsPerHost != tt.wantMaxConns {
				t.Errorf("MaxConnsPerHost=%d MaxIdleConnsPerHost=%d, want %d", tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tt.wantMaxConns)
			}
			if tr.MaxIdleConnsPerHost <= http.DefaultMaxIdleConnsPerHost {
				t.Errorf("MaxIdleConnsPerHost=%d, want above Go's default %d", tr.MaxIdleConnsPerHost, http.DefaultMaxIdleConnsPerHost)
			}
			if tr.ResponseHeaderTimeout != 0 {
				t.Errorf("ResponseHeaderTimeout = %v, want 0", tr.ResponseHeaderTimeout)
			}
			if tr.IdleConnTimeout <= 0 || tr.TLSHandshakeTimeout <= 0 {
				t.Errorf("IdleConnTimeout=%v TLSHandshakeTimeout=%v, want both set", tr.IdleConnTimeout, tr.TLSHandshakeTimeout)
			}
			if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
				t.Errorf("TLS MinVersion not 1.2: %+v", tr.TLSClientConfig)
			}
			d := newDialer(tt.opts)
			wantDial := tt.opts.DialTimeout
			if wantDial <= 0 {
				wantDial = DefaultDialTimeout
			}
			if d.Timeout != wantDial || d.ControlContext == nil {
				t.Errorf("dialer Timeout=%v ControlContext set=%v, want %v and set", d.Timeout, d.ControlContext != nil, wantDial)
			}
		})
	}
}

func TestGuardControlFailsClosed(t *testing.T) {
	t.Parallel()
	g := guard{allowLoopback: true}
	tests := []struct {
		network, address string
		blocked          bool
	}{
		{network: "tcp4", address: "127.0.0.1:80"},
		{network: "tcp6", address: "[::1]:443"},
		{network: "tcp4", address: "8.8.8.8:443"},
		{network: "tcp6", address: "[fe80::1%eth0]:80", blocked: true},
		{network: "udp4", address: "8.8.8.8:53", blocked: true},
		{network: "tcp4", address: "not-an-address", blocked: true},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.address, func(t *testing.T) {
			t.Parallel()
			err := g.control(context.Background(), tt.network, tt.address, nil)
			if tt.blocked != errors.Is(err, ErrBlockedAddress) {
				t.Fatalf("control(%s, %s) = %v, want blocked=%v", tt.network, tt.address, err, tt.blocked)
			}
			if !tt.blocked && err != nil {
				t.Fatalf("control(%s, %s) = %v, want nil", tt.network, tt.address, err)
			}
		})
	}
}
