package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/shared/memo"
	"github.com/heraldhq/herald/shared/signing"
)

// UserAgent names Herald to receivers, so their operators can tell webhook traffic apart.
const UserAgent = "Herald-Webhooks/1 (+https://github.com/heraldhq/herald)"

// DefaultAttemptTimeout bounds one attempt. 15 s is generous for a receiver that should
// acknowledge and process asynchronously, and short enough that one slow receiver does not
// hold a batch of ten for long.
const DefaultAttemptTimeout = 15 * time.Second

// SnippetLimit caps the response body kept with an attempt: enough to show a receiver's error
// message, small enough that a log of millions of attempts stays cheap.
const SnippetLimit = 1024

// drainLimit is how much of a response body is read so the connection can be reused; a
// receiver that answers with more is cut off and its connection dropped instead.
const drainLimit = 64 << 10

// Result is what one HTTP attempt produced.
type Result struct {
	StatusCode int
	Latency    time.Duration
	Class      Class
	Snippet    string
	// RetryAfter is the receiver's Retry-After on a 429 or 503, zero otherwise.
	RetryAfter time.Duration
}

// maxRequestTemplates bounds the Sender's parsed webhook URLs: the delivery function's
// endpoint cache holds up to 10,000 webhooks, and a template is a few hundred bytes.
const maxRequestTemplates = 10_000

// Sender makes signed POST attempts.
type Sender struct {
	client *http.Client
	// direct is client's Transport when client would add nothing to a post (see directTransport);
	// nil sends through client.
	direct  http.RoundTripper
	timeout time.Duration
	now     func() time.Time
	signer  signing.Signer
	// templates holds a POST request per webhook URL, parsed and checked once: an attempt is
	// a shallow copy of it with its own context, headers and body (see request).
	templates memo.Map[string, *template] // by URL
}

// template is a webhook URL's request, and the Authorization a URL with a user name gets:
// http.Client adds it, and a direct post (see directTransport) must too.
type template struct {
	req           *http.Request
	authorization string
}

// NewSender returns a Sender using client, which should be the process's one tuned,
// address-guarded client (see package outbound).
func NewSender(client *http.Client, timeout time.Duration) *Sender {
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	return &Sender{client: client, direct: directTransport(client), timeout: timeout, now: time.Now}
}

// directTransport returns client's Transport when client would add nothing to a webhook post
// but cost: it follows no redirects (its CheckRedirect answers http.ErrUseLastResponse, as
// outbound.NewClient's does), keeps no cookies and sets no timeout (the attempt's context
// does). http.Client then only copies every request's headers, in case of a redirect it will
// not follow: six allocations, about a microsecond of a loopback delivery's CPU. It returns nil
// for any other client, which Send then goes through.
func directTransport(client *http.Client) (rt http.RoundTripper) {
	if client.Jar != nil || client.Timeout != 0 || client.CheckRedirect == nil {
		return nil
	}
	// A policy is only known by its answer; one that cannot answer a probe is not relied on.
	defer func() {
		if recover() != nil {
			rt = nil
		}
	}()
	probe := &http.Request{Method: http.MethodPost, URL: &url.URL{Scheme: "https", Host: "example.com", Path: "/"}, Header: http.Header{}}
	if !errors.Is(client.CheckRedirect(probe, []*http.Request{probe}), http.ErrUseLastResponse) {
		return nil
	}
	if client.Transport == nil {
		return http.DefaultTransport
	}
	return client.Transport
}

// Send makes one attempt to deliver job to ep. It never returns an error: every failure is a
// classified Result, because every failure is recorded the same way.
func (s *Sender) Send(ctx context.Context, ep Endpoint, job Job) Result {
	sentAt := s.now()
	if deadline, ok := ctx.Deadline(); !ok || deadline.After(sentAt.Add(s.timeout)) {
		// A caller's deadline within the timeout (the Processor sets one per batch) is the
		// attempt's already; another context would only cost a timer.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, sentAt.Add(s.timeout))
		defer cancel()
	}

	// The timestamp and the signature are built in one buffer and become one string: each
	// allocation shows at thousands of deliveries a second.
	var buf [128]byte
	stamped := strconv.AppendInt(buf[:0], sentAt.Unix(), 10)
	stampLen := len(stamped)
	signed, err := s.signer.AppendSignature(stamped, ep.Secrets, job.ID, sentAt, job.Payload)
	if err != nil {
		return Result{Class: ClassBadEndpoint, Snippet: "signing secret is unusable"}
	}
	req, auth, err := s.request(ctx, ep.URL, job.Payload)
	if err != nil {
		return Result{Class: ClassBadEndpoint, Snippet: fmt.Sprintf("invalid webhook URL: %v", err)}
	}
	stampAndSig := string(signed)
	// Keys are written in canonical form directly: Header.Set would canonicalise five keys on
	// every attempt, a measurable cost at thousands of deliveries a second. The five values
	// share one backing array (one allocation, not five), each capped so none can grow into
	// the next.
	values := [...]string{"application/json", UserAgent, job.ID, stampAndSig[:stampLen], stampAndSig[stampLen:]}
	shared := values[:]
	req.Header = http.Header{
		"Content-Type":      shared[0:1:1],
		"User-Agent":        shared[1:2:2],
		"Webhook-Id":        shared[2:3:3],
		"Webhook-Timestamp": shared[3:4:4],
		"Webhook-Signature": shared[4:5:5],
	}

	var resp *http.Response
	if s.direct != nil {
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		resp, err = s.postDirect(req)
	} else {
		resp, err = s.client.Do(req)
	}
	latency := s.now().Sub(sentAt)
	if err != nil {
		return Result{Latency: latency, Class: ClassifyError(err)}
	}
	defer resp.Body.Close()
	var snippet string
	if resp.ContentLength != 0 {
		snippet, _ = readSnippet(resp.Body)
	}
	res := Result{StatusCode: resp.StatusCode, Latency: latency, Class: ClassifyStatus(resp.StatusCode), Snippet: snippet}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	return res
}

// postDirect is http.Client's Do for a client that follows no redirects, keeps no cookies and
// sets no timeout (see directTransport), with what it does to every request that is not a
// redirect: the Authorization of a URL's user (set by the caller), its errors wrapped the same
// way, an https URL of a plain-HTTP server reported as a scheme mismatch.
func (s *Sender) postDirect(req *http.Request) (*http.Response, error) {
	resp, err := s.direct.RoundTrip(req)
	if err != nil {
		var tlsErr tls.RecordHeaderError
		if errors.As(err, &tlsErr) && string(tlsErr.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch
		}
		return nil, &url.Error{Op: "Post", URL: req.URL.Redacted(), Err: err}
	}
	if resp == nil {
		return nil, &url.Error{Op: "Post", URL: req.URL.Redacted(), Err: errors.New("transport returned neither a response nor an error")}
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// request returns a POST of payload to rawURL under ctx, without headers, and the
// Authorization its URL's user gets. It copies a template parsed once per URL, which saves the
// parse and half the allocations of http.NewRequestWithContext. The copies share the
// template's URL, which the client only reads.
func (s *Sender) request(ctx context.Context, rawURL string, payload []byte) (*http.Request, string, error) {
	tmpl, ok := s.templates.Load(rawURL)
	if !ok {
		req, err := http.NewRequest(http.MethodPost, rawURL, nil)
		if err != nil {
			return nil, "", err
		}
		tmpl = &template{req: req}
		if u := req.URL.User; u != nil {
			password, _ := u.Password()
			tmpl.authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+password))
		}
		// Past maxRequestTemplates, the URLs of webhooks long gone are forgotten with the
		// rest: one parse again per live one.
		tmpl, _ = s.templates.LoadOrStore(rawURL, tmpl, maxRequestTemplates)
	}
	req := tmpl.req.WithContext(ctx)
	req.ContentLength = int64(len(payload))
	if len(payload) == 0 {
		req.Body, req.GetBody = http.NoBody, noBody
		return req, tmpl.authorization, nil
	}
	// A *bytes.Reader behind io.NopCloser, as http.NewRequest makes it: the Transport knows
	// that body is in memory and writes it with the headers, in one packet; a body of another
	// type gets its headers flushed first, a second write per request.
	req.Body = io.NopCloser(bytes.NewReader(payload))
	// GetBody lets the Transport send the request again on another connection when a reused
	// one turns out closed before anything was written.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
	return req, tmpl.authorization, nil
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

// readSnippet keeps the first SnippetLimit bytes and drains the rest up to drainLimit so the
// keep-alive connection goes back to the pool.
func readSnippet(body io.Reader) (string, error) {
	head := make([]byte, SnippetLimit)
	n, err := io.ReadFull(body, head)
	head = head[:n]
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	}
	// The cap may split a rune and receivers send anything; the log stores text.
	return strings.ToValidUTF8(string(head), "\uFFFD"), err
}

// maxRetryAfterSeconds is MaxWait in whole seconds. A delta-seconds value is compared with it
// before it becomes a Duration: time.Duration counts nanoseconds in an int64, so any value above
// 9223372036 s (292 years) overflows, and a receiver may send anything.
const maxRetryAfterSeconds = int64(MaxWait / time.Second)

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 §10.2.3) as a wait from now,
// between 0 (absent, unreadable, or in the past) and MaxWait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		// delta-seconds is digits only. On digits ParseInt fails only with ErrRange, a number
		// too large for int64, which is past the cap like any other large one (RFC 9111 §1.2.2
		// likewise reads an unrepresentable delta-seconds as a very long time, not as none).
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > maxRetryAfterSeconds {
			return MaxWait
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	// Compared as times, so the bounds do not rest on Sub saturating for a date centuries away.
	switch {
	case !t.After(now):
		return 0
	case t.After(now.Add(MaxWait)):
		return MaxWait
	default:
		return t.Sub(now)
	}
}
