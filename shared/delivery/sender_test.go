package delivery_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/signing"
)

func newSecret(t testing.TB) string {
	t.Helper()
	s, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loopbackSender(timeout time.Duration) *delivery.Sender {
	return delivery.NewSender(outbound.NewClient(outbound.Options{AllowLoopback: true}), timeout)
}

var testJob = delivery.Job{
	ID: "687457ce-6489-4891-b7c8-544477d99e41", TenantID: "t1", WebhookID: "wh_1",
	EventType: "task_submitted_event", Payload: []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1}`),
}

func TestSendSignsWithStandardWebhooksHeaders(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	res := loopbackSender(0).Send(context.Background(), delivery.Endpoint{URL: srv.URL + "/hook", Enabled: true, Secrets: []string{secret}}, testJob)
	if res.Class != delivery.ClassNone || res.StatusCode != 204 {
		t.Fatalf("result %+v, want 204 success", res)
	}
	r, body := <-got, <-bodies
	if r.Method != http.MethodPost || r.URL.Path != "/hook" {
		t.Fatalf("%s %s", r.Method, r.URL.Path)
	}
	for header, want := range map[string]string{
		"Content-Type": "application/json", "webhook-id": testJob.ID,
	} {
		if v := r.Header.Get(header); v != want {
			t.Errorf("%s = %q, want %q", header, v, want)
		}
	}
	if ua := r.Header.Get("User-Agent"); !strings.Contains(ua, "Herald") {
		t.Errorf("User-Agent %q does not name Herald", ua)
	}
	if string(body) != string(testJob.Payload) {
		t.Fatalf("body %s, want %s", body, testJob.Payload)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(body, r.Header); err != nil {
		t.Fatalf("reference verifier: %v", err)
	}
}

func TestSendClassifiesOutcomes(t *testing.T) {
	t.Parallel()
	status := func(code int, header map[string]string, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	cases := []struct {
		name       string
		handler    http.HandlerFunc
		class      delivery.Class
		retryAfter time.Duration
		snippet    string
	}{
		{"200", status(200, nil, "ok"), delivery.ClassNone, 0, "ok"},
		{"302 is a failure, not followed", status(302, map[string]string{"Location": "https://example.com/"}, ""), delivery.ClassHTTP3xx, 0, ""},
		{"400", status(400, nil, `{"error":"bad"}`), delivery.ClassHTTP4xx, 0, `{"error":"bad"}`},
		{"410", status(410, nil, ""), delivery.ClassHTTPGone, 0, ""},
		{"429 with Retry-After seconds", status(429, map[string]string{"Retry-After": "120"}, ""), delivery.ClassHTTP4xx, 120 * time.Second, ""},
		// The date is written when the response is, not when the table is built: parallel
		// subtests may start seconds later.
		{"503 with Retry-After date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(503)
		}, delivery.ClassHTTP5xx, time.Hour, ""},
		{"500 ignores Retry-After", status(500, map[string]string{"Retry-After": "60"}, ""), delivery.ClassHTTP5xx, 0, ""},
		{"huge body is capped", status(500, nil, strings.Repeat("x", 100_000)), delivery.ClassHTTP5xx, 0, strings.Repeat("x", delivery.SnippetLimit)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			res := loopbackSender(0).Send(context.Background(), delivery.Endpoint{URL: srv.URL, Enabled: true, Secrets: []string{newSecret(t)}}, testJob)
			if res.Class != tc.class {
				t.Fatalf("class %q, want %q (%+v)", res.Class, tc.class, res)
			}
			if diff := res.RetryAfter - tc.retryAfter; diff < -2*time.Second || diff > 2*time.Second {
				t.Fatalf("retry-after %s, want about %s", res.RetryAfter, tc.retryAfter)
			}
			if res.Snippet != tc.snippet {
				t.Fatalf("snippet %.40q (len %d), want %.40q (len %d)", res.Snippet, len(res.Snippet), tc.snippet, len(tc.snippet))
			}
		})
	}
}

// A receiver's Retry-After is whatever it sends. Each value goes over real HTTP on a 429, so
// what is tested is what Send makes of the header it gets: always a wait between 0 and MaxWait,
// never an overflowed or negative one.
func TestSendRetryAfterStaysWithinZeroAndMaxWait(t *testing.T) {
	t.Parallel()
	// Dates relative to now are written when the response is, as a receiver would.
	in := func(d time.Duration) func() string {
		return func() string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	}
	at := func(tm time.Time) func() string {
		return func() string { return tm.UTC().Format(http.TimeFormat) }
	}
	text := func(v string) func() string { return func() string { return v } }
	cases := []struct {
		name       string
		retryAfter func() string
		want       time.Duration
	}{
		{"seconds", text("120"), 120 * time.Second},
		{"zero", text("0"), 0},
		{"exactly the cap", text("43200"), delivery.MaxWait},
		{"a second past the cap", text("43201"), delivery.MaxWait},
		// 9223372037 s is the first whole second past what a time.Duration holds.
		{"seconds that overflow a Duration", text("9223372037"), delivery.MaxWait},
		{"max int64 seconds", text("9223372036854775807"), delivery.MaxWait},
		{"seconds beyond int64", text("99999999999999999999"), delivery.MaxWait},
		{"leading zeros", text("000000000000000000000000060"), time.Minute},
		{"negative", text("-1"), 0},
		{"negative beyond int64", text("-99999999999999999999"), 0},
		{"fraction", text("1.5"), 0},
		{"garbage", text("soon"), 0},
		{"date in an hour", in(time.Hour), time.Hour},
		{"date in a day", in(24 * time.Hour), delivery.MaxWait},
		{"date in year 9999", at(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)), delivery.MaxWait},
		{"date in the past", in(-time.Hour), 0},
		{"date in year 1", at(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)), 0},
		{"date that is not one", text("Mon, 99 Foo 2024 99:99:99 GMT"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sentHeader := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v := tc.retryAfter()
				sentHeader <- v
				w.Header().Set("Retry-After", v)
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			defer srv.Close()
			res := loopbackSender(0).Send(context.Background(), delivery.Endpoint{URL: srv.URL, Enabled: true, Secrets: []string{newSecret(t)}}, testJob)
			if res.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("result %+v, want a 429", res)
			}
			sent := <-sentHeader
			if res.RetryAfter < 0 || res.RetryAfter > delivery.MaxWait {
				t.Fatalf("Retry-After %q gave %s, want between 0 and %s", sent, res.RetryAfter, delivery.MaxWait)
			}
			// Dates have whole seconds and the attempt takes a moment: allow 2 s.
			if diff := res.RetryAfter - tc.want; diff < -2*time.Second || diff > 2*time.Second {
				t.Fatalf("Retry-After %q gave %s, want about %s", sent, res.RetryAfter, tc.want)
			}
		})
	}
}

// Each network failure is produced for real on loopback, so the classes reflect what Go's
// stack actually returns, not what we think it returns.
func TestSendClassifiesNetworkFailures(t *testing.T) {
	t.Parallel()
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a gone client only once the body is read
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	untrustedTLS := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(untrustedTLS.Close)
	reset := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
		return "http://" + l.Addr().String()
	}()

	cases := []struct {
		name    string
		url     string
		timeout time.Duration
		allow   bool
		class   delivery.Class
	}{
		{"connection refused", closedPort, time.Second, true, delivery.ClassConnectionRefused},
		{"timeout", slow.URL, 200 * time.Millisecond, true, delivery.ClassTimeout},
		{"tls", untrustedTLS.URL, 2 * time.Second, true, delivery.ClassTLS},
		{"dns", "http://no-such-host.invalid/hook", 2 * time.Second, true, delivery.ClassDNS},
		{"loopback refused by default", slow.URL, time.Second, false, delivery.ClassBlockedAddress},
		{"metadata address", "http://169.254.169.254/latest/meta-data/", time.Second, true, delivery.ClassBlockedAddress},
		{"reset", reset, time.Second, true, delivery.ClassConnectionReset},
		{"unusable url", "http://[::1", time.Second, true, delivery.ClassBadEndpoint},
		{"https to a plain server", strings.Replace(slow.URL, "http:", "https:", 1), time.Second, true, delivery.ClassNetwork},
	}
	for _, tc := range cases {
		// Both ways a Sender posts: straight through the Transport of a client that would
		// add nothing, and through http.Client (here made to by a timeout the attempt's
		// deadline always beats).
		for _, via := range []string{"transport", "client"} {
			t.Run(tc.name+" via "+via, func(t *testing.T) {
				t.Parallel()
				client := outbound.NewClient(outbound.Options{AllowLoopback: tc.allow})
				if via == "client" {
					client.Timeout = time.Hour
				}
				s := delivery.NewSender(client, tc.timeout)
				res := s.Send(context.Background(), delivery.Endpoint{URL: tc.url, Enabled: true, Secrets: []string{newSecret(t)}}, testJob)
				if res.Class != tc.class {
					t.Fatalf("class %q, want %q", res.Class, tc.class)
				}
			})
		}
	}
}

// What http.Client does to a request that is not redirected, a post straight through the
// Transport does too: a URL's user becomes Basic authorization, and a redirect is an answer,
// not followed.
func TestSendDirectlyKeepsWhatTheClientDid(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, password, _ := r.BasicAuth(); r.URL.Path == "/private" && (user != "alice" || password != "s cret") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/hook", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	withUser := strings.Replace(srv.URL, "http://", "http://alice:s%20cret@", 1)
	for _, via := range []string{"transport", "client"} {
		client := outbound.NewClient(outbound.Options{AllowLoopback: true})
		if via == "client" {
			client.Timeout = time.Hour
		}
		s := delivery.NewSender(client, time.Second)
		for _, tc := range []struct {
			url    string
			status int
			class  delivery.Class
		}{
			{withUser + "/private", http.StatusNoContent, delivery.ClassNone},
			{srv.URL + "/private", http.StatusUnauthorized, delivery.ClassHTTP4xx},
			{srv.URL + "/moved", http.StatusTemporaryRedirect, delivery.ClassHTTP3xx},
		} {
			res := s.Send(context.Background(), delivery.Endpoint{URL: tc.url, Enabled: true, Secrets: []string{newSecret(t)}}, testJob)
			if res.StatusCode != tc.status || res.Class != tc.class {
				t.Errorf("via %s, %s: %+v, want %d", via, tc.url, res, tc.status)
			}
		}
	}
}
