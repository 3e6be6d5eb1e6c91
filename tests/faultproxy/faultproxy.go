// Package faultproxy stands between Herald and an AWS stand-in and injects the faults AWS
// answers with under load: throttling (HTTP 400 with the service's throttling error) and
// internal errors (HTTP 500), some before the request reaches the stand-in and some after it
// was applied, when only the answer is lost. The SDK's own retryer sees them as it would see
// AWS's, so what reaches Herald's code is what would on AWS.
package faultproxy

import (
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// Kinds of injected fault.
const (
	Throttled = "throttled"
	// InternalBefore fails the request without forwarding it.
	InternalBefore = "internal_before"
	// InternalAfter forwards the request, lets the stand-in apply it, and answers 500: the
	// caller retries something that already happened.
	InternalAfter = "internal_after"
)

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	URL string

	mu     sync.Mutex
	rate   float64
	rng    *rand.Rand
	counts map[string]int
	calls  int
}

// Start proxies to target, failing a share rate of the requests (0 to 1); it stops with the
// test. throttleType is the service's throttling error type as its JSON protocol names it.
func Start(t testing.TB, target string, rate float64, seed uint64, throttleType string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), counts: map[string]int{}}
	forward := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch kind := p.pick(); kind {
		case Throttled:
			_, _ = io.Copy(io.Discard, r.Body)
			writeError(w, http.StatusBadRequest, throttleType, "Rate exceeded")
		case InternalBefore:
			_, _ = io.Copy(io.Discard, r.Body)
			writeError(w, http.StatusInternalServerError, "InternalServerError", "injected before the request")
		case InternalAfter:
			rec := httptest.NewRecorder()
			forward.ServeHTTP(rec, r)
			writeError(w, http.StatusInternalServerError, "InternalServerError", "injected after the request was applied")
		default:
			forward.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Proxy) pick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.rng.Float64() >= p.rate {
		return ""
	}
	kind := [...]string{Throttled, Throttled, InternalBefore, InternalAfter}[p.rng.IntN(4)]
	p.counts[kind]++
	return kind
}

// Counts returns the faults injected so far by kind, and the requests seen.
func (p *Proxy) Counts() (map[string]int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out, p.calls
}

// writeError answers as the AWS JSON protocols do: the error type in __type and in
// X-Amzn-ErrorType, which the SDK reads to classify it (throttling is retried with backoff).
// DynamoDB's answers carry the CRC32 of their body, which the SDK checks.
func writeError(w http.ResponseWriter, status int, errType, msg string) {
	body := `{"__type":"` + errType + `","message":"` + msg + `"}`
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", errType)
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
