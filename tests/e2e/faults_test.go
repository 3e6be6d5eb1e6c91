package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/contract"
)

// The fault suite on the AWS stand-ins. Stage transitions fan out to two webhooks, and every
// tenth, a task completing, to two ordered webhooks, whose receiver fails
// 30 % of requests (5xx, a hang past the attempt timeout, a reset connection, 429 with
// Retry-After; some successes answer slowly), while 10 % of the router's and the delivery
// function's DynamoDB and SQS requests are throttled or fail with 500 (some after the stand-in
// applied them). The test command runs it at a size that fits CI; `make fault-suite` runs it
// at full size (10,000 events). Every run: no delivery lost, every request of a delivery
// carries its one webhook-id and verifies, no attempt the log counts went unseen by the
// receiver (Herald's faults spend none of the receiver's), and each ordered webhook's events
// first succeeded in the order they were accepted. An ordered webhook takes one delivery at a
// time, and each failure holds it for at least a second (SQS's visibility is whole seconds),
// hence only one event in ten for them.
func TestFaultSuite(t *testing.T) {
	t.Parallel()
	events := 300
	if v := os.Getenv("HERALD_FAULT_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HERALD_FAULT_EVENTS=%q is not a positive whole number", v)
		}
		events = n
	}
	const fanOut, faultRate, maxAttempts, completionEvery = 2, 0.10, 10, 10
	orderedHooks := []string{"o0", "o1"}
	completions := events / completionEvery
	want := (events-completions)*fanOut + completions*len(orderedHooks)
	w := newWorld(t, worldOptions{
		allowLoopback: true, cacheTTL: 10 * time.Second, faultRate: faultRate,
		schedule:       strings.TrimSuffix(strings.Repeat("200ms,", maxAttempts-1), ","),
		attemptTimeout: 500 * time.Millisecond, visibility: 5 * time.Second,
	})
	r := newFaultyReceiver(t, 0.30, time.Second)
	for i := range fanOut {
		hook := contract.NewWebhook(t, sampleTenant, fmt.Sprintf("wh_%d", i), sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, fmt.Sprintf("%s/hooks?n=%d", r.srv.URL, i))
		if err := w.store.CreateWebhook(context.Background(), hook); err != nil {
			t.Fatal(err)
		}
		r.secrets[fmt.Sprint(i)] = hook.Secrets[0]
	}
	for _, n := range orderedHooks {
		hook := contract.NewWebhook(t, sampleTenant, "wh_"+n, sampleProject, sampleCompleteStage, stagehooks.StageComplete, fmt.Sprintf("%s/hooks?n=%s", r.srv.URL, n))
		hook.Ordered = true
		if err := w.store.CreateWebhook(context.Background(), hook); err != nil {
			t.Fatal(err)
		}
		r.secrets[n] = hook.Secrets[0]
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(events)*100*time.Millisecond+2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, poll := range []func(context.Context) (int, error){w.poller.PollOnce, w.poller.PollOnce, w.poller.PollOnce, w.poller.PollOnce,
		w.orderedPoller.PollOnce, w.orderedPoller.PollOnce} {
		wg.Go(func() {
			for ctx.Err() == nil && r.delivered() < want {
				_, _ = poll(ctx)
			}
		})
	}
	routerRetries := 0
	for i := range events {
		// EventBridge retries a failed asynchronous invocation; so does this loop.
		for try := 0; ; try++ {
			publish := w.publishTransition
			if i%completionEvery == completionEvery-1 {
				publish = w.publishCompletion
			}
			err := publish(t, i)
			if err == nil {
				break
			}
			if try == 20 {
				t.Fatalf("event %d: the router failed 20 times: %v", i, err)
			}
			routerRetries++
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	st := r.stats()
	dynamoFaults, dynamoCalls := w.faults.DynamoDB.Counts()
	sqsFaults, sqsCalls := w.faults.SQS.Counts()
	t.Logf("fault suite: %d events (%d to %d webhooks, %d to %d ordered webhooks) in %s; receiver: %d requests, %d failed (%v), %d slow successes, %d repeated after success",
		events, events-completions, fanOut, completions, len(orderedHooks), elapsed.Round(time.Millisecond), st.requests, st.failed, st.byKind, st.slow, st.afterSuccess)
	t.Logf("injected: DynamoDB %v of %d requests, SQS %v of %d; router invocations retried %d; Herald's own-fault requeues %d; attempt records lost %d",
		dynamoFaults, dynamoCalls, sqsFaults, sqsCalls, routerRetries, w.counts.Total(telemetry.OwnFaultRequeued), w.counts.Total(telemetry.AttemptLogLost))

	// Nothing lost: every delivery reached its receiver.
	if st.deliveries != want || r.delivered() != want {
		t.Fatalf("%d deliveries seen, %d delivered; want %d of each", st.deliveries, r.delivered(), want)
	}
	if st.badRequests > 0 {
		t.Fatalf("%d requests failed verification or carried a webhook-id other than their payload's uid", st.badRequests)
	}
	// The ordered webhooks: each event's first success in the order the router accepted them.
	for _, n := range orderedHooks {
		order := r.firstSuccesses(n)
		if len(order) != completions {
			t.Fatalf("ordered webhook %s: %d events succeeded, want %d", n, len(order), completions)
		}
		for i := 1; i < len(order); i++ {
			if order[i] <= order[i-1] {
				t.Fatalf("ordered webhook %s: event %d succeeded after event %d (first successes %v…)", n, order[i], order[i-1], order[:min(len(order), i+5)])
			}
		}
	}
	t.Logf("ordered webhooks: %d events each, first successes in the order accepted", completions)
	// No attempt counted that the receiver did not see, read from the attempt log.
	unlogged, repeats := 0, 0
	for id, seen := range r.attemptsUntilSuccess() {
		attempts, err := w.attempts.AttemptsOfDelivery(context.Background(), sampleTenant, id)
		if err != nil {
			t.Fatal(err)
		}
		logged := 0
		for _, a := range attempts {
			if a.ErrorClass == "" {
				logged = a.Number
				break
			}
		}
		switch {
		case logged == 0:
			unlogged++ // its record was lost with a failed log write, counted above
		case logged > seen:
			t.Errorf("delivery %s: the log counts its success as attempt %d, the receiver saw %d requests: an attempt was spent on Herald's fault", id, logged, seen)
		case logged < seen:
			repeats++ // an attempt made again after Herald's fault: a duplicate, never a lost attempt
		}
	}
	t.Logf("attempt log: %d deliveries without a success record, %d with an attempt repeated after Herald's fault", unlogged, repeats)
	if dead := w.backend.DeadLetters(context.Background(), t, 1); len(dead) != 0 {
		t.Errorf("%d deliveries dead-lettered", len(dead))
	}
}

// faultyReceiver fails a share of requests in the ways receivers do, and keeps what it saw
// per webhook-id.
type faultyReceiver struct {
	srv      *httptest.Server
	failRate float64
	hang     time.Duration
	secrets  map[string]string
	mu       sync.Mutex
	rng      *rand.Rand
	byID     map[string]*seenDelivery
	// succeeded is, per webhook (the n of its URL), the events (publishTransition's i) in the
	// order of their first success.
	succeeded   map[string][]int
	requests    int
	byKind      map[string]int
	slow        int
	badRequests int
}

type seenDelivery struct {
	requests     int // up to and including the first success
	succeeded    bool
	afterSuccess int
}

func newFaultyReceiver(t *testing.T, failRate float64, hang time.Duration) *faultyReceiver {
	r := &faultyReceiver{failRate: failRate, hang: hang, secrets: map[string]string{}, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)),
		byID: map[string]*seenDelivery{}, byKind: map[string]int{}, succeeded: map[string][]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *faultyReceiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(signing.HeaderID)
	var payload struct {
		UID     string
		Created string `json:"event_created_timestamp"`
	}
	_ = json.Unmarshal(body, &payload)
	wh, _ := standardwebhooks.NewWebhook(r.secrets[req.URL.Query().Get("n")])
	bad := wh == nil || wh.Verify(body, req.Header) != nil || payload.UID != id

	r.mu.Lock()
	r.requests++
	if bad {
		r.badRequests++
	}
	d := r.byID[id]
	if d == nil {
		d = &seenDelivery{}
		r.byID[id] = d
	}
	kind := ""
	if r.rng.Float64() < r.failRate {
		kind = [...]string{"500", "hang", "reset", "429"}[r.rng.IntN(4)]
		r.byKind[kind]++
	}
	slow := kind == "" && r.rng.IntN(10) == 0
	if slow {
		r.slow++
	}
	if d.succeeded {
		d.afterSuccess++
	} else {
		d.requests++
		d.succeeded = kind == ""
		if d.succeeded {
			hook := req.URL.Query().Get("n")
			r.succeeded[hook] = append(r.succeeded[hook], transitionIndex(payload.Created))
		}
	}
	r.mu.Unlock()

	switch kind {
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
	case "429":
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case "hang":
		select {
		case <-req.Context().Done():
		case <-time.After(r.hang):
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	case "reset":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
	default:
		if !slow {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// A receiver that acknowledges, then takes its time over the body.
		w.WriteHeader(http.StatusOK)
		for range 5 {
			_, _ = io.WriteString(w, "ok ")
			http.NewResponseController(w).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// firstSuccesses is the events of webhook n in the order of their first success.
func (r *faultyReceiver) firstSuccesses(n string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.succeeded[n]...)
}

// transitionIndex is the i of publishTransition(i), the microseconds of the event's
// timestamp; -1 if it has none.
func transitionIndex(created string) int {
	dot, plus := strings.LastIndex(created, "."), strings.LastIndex(created, "+")
	if dot < 0 || plus < dot {
		return -1
	}
	n, err := strconv.Atoi(created[dot+1 : plus])
	if err != nil {
		return -1
	}
	return n
}

// delivered counts deliveries that have had a success.
func (r *faultyReceiver) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.byID {
		if d.succeeded {
			n++
		}
	}
	return n
}

func (r *faultyReceiver) attemptsUntilSuccess() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, d := range r.byID {
		out[id] = d.requests
	}
	return out
}

type receiverStats struct {
	deliveries, requests, failed, slow, afterSuccess, badRequests int
	byKind                                                        string
}

func (r *faultyReceiver) stats() receiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := receiverStats{deliveries: len(r.byID), requests: r.requests, slow: r.slow, badRequests: r.badRequests}
	var kinds []string
	for k, n := range r.byKind {
		s.failed += n
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	s.byKind = strings.Join(kinds, ", ")
	for _, d := range r.byID {
		s.afterSuccess += d.afterSuccess
	}
	return s
}
