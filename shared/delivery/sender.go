package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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

// Sender makes signed POST attempts.
type Sender struct {
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// NewSender returns a Sender using client, which should be the process's one tuned,
// address-guarded client (see package outbound).
func NewSender(client *http.Client, timeout time.Duration) *Sender {
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	return &Sender{client: client, timeout: timeout, now: time.Now}
}

// Send makes one attempt to deliver job to ep. It never returns an error: every failure is a
// classified Result, because every failure is recorded the same way.
func (s *Sender) Send(ctx context.Context, ep Endpoint, job Job) Result {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	sentAt := s.now()
	sig, err := signing.Signature(ep.Secrets, job.ID, sentAt, job.Payload)
	if err != nil {
		return Result{Class: ClassBadEndpoint, Snippet: "signing secret is unusable"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(job.Payload))
	if err != nil {
		return Result{Class: ClassBadEndpoint, Snippet: fmt.Sprintf("invalid webhook URL: %v", err)}
	}
	// Keys are written in canonical form directly: Header.Set would canonicalise five keys on
	// every attempt, a measurable cost at thousands of deliveries a second. The five values
	// share one backing array (one allocation, not five), each capped so none can grow into
	// the next.
	values := [...]string{"application/json", UserAgent, job.ID, strconv.FormatInt(sentAt.Unix(), 10), sig}
	shared := values[:]
	req.Header = http.Header{
		"Content-Type":      shared[0:1:1],
		"User-Agent":        shared[1:2:2],
		"Webhook-Id":        shared[2:3:3],
		"Webhook-Timestamp": shared[3:4:4],
		"Webhook-Signature": shared[4:5:5],
	}

	resp, err := s.client.Do(req)
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
