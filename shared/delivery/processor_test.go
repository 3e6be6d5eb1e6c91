package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Small hand-written fakes: each records what the processor asked of it.
type fakeEndpoints struct {
	eps      map[delivery.EndpointRef]delivery.Endpoint
	err      error
	disabled []delivery.EndpointRef
}

func (f *fakeEndpoints) Endpoints(context.Context, []delivery.EndpointRef) (map[delivery.EndpointRef]delivery.Endpoint, error) {
	return f.eps, f.err
}

func (f *fakeEndpoints) DisableWebhook(_ context.Context, ref delivery.EndpointRef, _ string) error {
	f.disabled = append(f.disabled, ref)
	return nil
}

type fakeLog struct {
	mu       sync.Mutex
	attempts []delivery.Attempt
	err      error
}

func (f *fakeLog) RecordAttempts(_ context.Context, a []delivery.Attempt) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, a...)
	return f.err
}

type deadLetter struct {
	body   []byte
	reason string
	class  delivery.Class
}

type fakeQueue struct {
	mu          sync.Mutex
	retries     []delivery.Retry
	retryErr    error
	resent      []delivery.Resend
	resendErr   error
	deadLetters []deadLetter
	deadErr     error
}

func (f *fakeQueue) RetryLater(_ context.Context, r []delivery.Retry) ([]string, error) {
	f.retries = append(f.retries, r...)
	if f.retryErr != nil {
		var ids []string
		for _, x := range r {
			ids = append(ids, x.Message.ID)
		}
		return ids, f.retryErr
	}
	return nil, nil
}

func (f *fakeQueue) Resend(_ context.Context, jobs []delivery.Resend) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resendErr != nil {
		return f.resendErr
	}
	f.resent = append(f.resent, jobs...)
	return nil
}

func (f *fakeQueue) DeadLetter(_ context.Context, body []byte, reason string, class delivery.Class) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deadErr != nil {
		return f.deadErr
	}
	f.deadLetters = append(f.deadLetters, deadLetter{body, reason, class})
	return nil
}

type harness struct {
	proc    *delivery.Processor
	eps     *fakeEndpoints
	log     *fakeLog
	queue   *fakeQueue
	counter *telemetry.Memory
	hits    *atomic.Int64
}

func newHarness(t *testing.T, status int, header http.Header) *harness {
	t.Helper()
	hits := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	sched, _ := delivery.ParseSchedule(delivery.DefaultSchedule)
	h := &harness{
		eps: &fakeEndpoints{eps: map[delivery.EndpointRef]delivery.Endpoint{
			testJob.Ref(): {URL: srv.URL, Enabled: true, Secrets: []string{newSecret(t)}},
		}},
		log: &fakeLog{}, queue: &fakeQueue{}, counter: telemetry.NewMemory(), hits: hits,
	}
	h.proc = &delivery.Processor{Endpoints: h.eps, Disabler: h.eps, Log: h.log, Queue: h.queue,
		Sender: loopbackSender(time.Second), Schedule: sched, Counter: h.counter}
	if err := h.proc.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

// message is job on its receiveCount-th receive, received just now. Attempts are numbered
// from the job's own count, whatever the receive count.
func message(t *testing.T, id string, receiveCount int, job delivery.Job) delivery.Message {
	t.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Message{ID: id, ReceiptHandle: "rh-" + id, Body: b, ReceiveCount: receiveCount, ReceivedAt: time.Now()}
}

// withAttempts is testJob after n attempts.
func withAttempts(n int) delivery.Job {
	j := testJob
	j.Attempts = n
	return j
}

func TestProcessSuccessRecordsOneAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob)})
	if len(failed) != 0 || len(h.queue.retries) != 0 || len(h.queue.deadLetters) != 0 {
		t.Fatalf("failed %v retries %v dead %v", failed, h.queue.retries, h.queue.deadLetters)
	}
	if len(h.log.attempts) != 1 {
		t.Fatalf("%d attempts recorded", len(h.log.attempts))
	}
	a := h.log.attempts[0]
	if a.Number != 1 || a.StatusCode != 200 || a.Outcome != delivery.OutcomeSucceeded || a.DeliveryID != testJob.ID {
		t.Fatalf("attempt %+v", a)
	}
}

func TestProcessFailureResendsTheJobWithItsCount(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 500, nil)
	// Its fifth receive, but only its third attempt: receives that made no attempt (a crashed
	// batch, a stop) do not count.
	before := time.Now()
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 5, withAttempts(2))})
	// The received message is done; the next attempt is a new message that carries the count.
	if len(failed) != 0 || len(h.queue.retries) != 0 || len(h.queue.resent) != 1 {
		t.Fatalf("failed %v, retries %v, resent %v", failed, h.queue.retries, h.queue.resent)
	}
	r := h.queue.resent[0]
	// Attempt 3's wait is the schedule's third entry (30 min, jittered); a queue delays by at
	// most 15 min, and the job itself says when it is due.
	if wait := r.Job.NotBefore.Sub(before); r.Job.Attempts != 3 || wait < 24*time.Minute || wait > 37*time.Minute || r.Delay != delivery.MaxDelay {
		t.Fatalf("resent %+v (due in %s), want 3 attempts, due in 30 min ±10%%, delayed 15 min", r, wait)
	}
	if r.Job.ID != testJob.ID || string(r.Job.Payload) != string(testJob.Payload) {
		t.Fatal("the resent job changed its delivery id or payload")
	}
	a := h.log.attempts[0]
	if a.Number != 3 || a.Outcome != delivery.OutcomeRetrying || a.ErrorClass != delivery.ClassHTTP5xx || !a.NextAttemptAt.Equal(r.Job.NotBefore) {
		t.Fatalf("attempt %+v", a)
	}
}

func TestProcessRetryAfterIsAFloorNotAReplacement(t *testing.T) {
	t.Parallel()
	// A long Retry-After early on is honoured...
	h := newHarness(t, 429, http.Header{"Retry-After": {"7200"}})
	before := time.Now()
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob)})
	if len(h.queue.resent) != 1 || h.queue.resent[0].Job.NotBefore.Sub(before) < 2*time.Hour {
		t.Fatalf("resent %+v, want the next attempt 2 h away", h.queue.resent)
	}
	// ...and a short one late on does not cut the schedule's 10 h to a second, which would
	// spend the rest of the attempts in moments.
	h = newHarness(t, 503, http.Header{"Retry-After": {"1"}})
	before = time.Now()
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, withAttempts(5))})
	if len(h.queue.resent) != 1 || h.queue.resent[0].Job.NotBefore.Sub(before) < 8*time.Hour {
		t.Fatalf("resent %+v, want attempt 7 at least 8 h away (10 h ±10%%)", h.queue.resent)
	}
}

// A job whose attempt is not due yet (its wait is longer than a queue can delay a message) is
// hidden again until then, without an attempt and within what the queue allows since its
// receive.
func TestProcessParksAJobReceivedBeforeItIsDue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	now := time.Now()
	soon, later := withAttempts(3), withAttempts(6)
	soon.NotBefore, later.NotBefore = now.Add(2*time.Hour), now.Add(20*time.Hour)
	received := message(t, "m2", 1, later)
	received.ReceivedAt = now.Add(-time.Hour)
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, soon), received})
	if len(failed) != 2 || h.hits.Load() != 0 || len(h.log.attempts) != 0 || len(h.queue.resent) != 0 {
		t.Fatalf("failed %v, hits %d, attempts %d, resent %d: want both kept on the queue untouched", failed, h.hits.Load(), len(h.log.attempts), len(h.queue.resent))
	}
	waits := map[string]time.Duration{}
	for _, r := range h.queue.retries {
		waits[r.Message.ID] = r.Wait
	}
	if w := waits["m1"]; w < 2*time.Hour-time.Minute || w > 2*time.Hour {
		t.Fatalf("m1 parked for %s, want about 2 h", w)
	}
	// Received an hour ago: 12 h from then, less a margin, is all SQS would allow.
	if w := waits["m2"]; w <= 10*time.Hour || w > 11*time.Hour {
		t.Fatalf("m2 parked for %s, want a little under the 11 h left of its 12", w)
	}
}

func TestProcessGoneDisablesWebhook(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 410, nil)
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob)})
	if len(failed) != 0 || len(h.queue.retries) != 0 {
		t.Fatalf("failed %v retries %v", failed, h.queue.retries)
	}
	if len(h.eps.disabled) != 1 || h.eps.disabled[0] != testJob.Ref() {
		t.Fatalf("disabled %v", h.eps.disabled)
	}
	if h.log.attempts[0].Outcome != delivery.OutcomeDisabled {
		t.Fatalf("outcome %s", h.log.attempts[0].Outcome)
	}
}

func TestProcessLastAttemptDeadLetters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 503, nil)
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, withAttempts(7))})
	if len(h.queue.deadLetters) != 1 || len(h.queue.retries) != 0 || len(h.queue.resent) != 0 {
		t.Fatalf("dead %v retries %v", h.queue.deadLetters, h.queue.retries)
	}
	dl := h.queue.deadLetters[0]
	if dl.reason != delivery.ReasonAttemptsExhausted || dl.class != delivery.ClassHTTP5xx {
		t.Fatalf("dead letter %+v", dl)
	}
	if h.log.attempts[0].Outcome != delivery.OutcomeDeadLettered || h.counter.Get(telemetry.DeadLettered, delivery.ReasonAttemptsExhausted) != 1 {
		t.Fatalf("attempt %+v", h.log.attempts[0])
	}
}

func TestProcessBeyondScheduleDeadLettersWithoutPosting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, withAttempts(8))})
	if h.hits.Load() != 0 {
		t.Fatal("receiver called beyond the schedule")
	}
	if len(h.queue.deadLetters) != 1 {
		t.Fatalf("dead letters %v", h.queue.deadLetters)
	}
}

func TestProcessOwnFaultRequeuesWithoutSpendingAttempts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	h.eps.err = errors.New("ProvisionedThroughputExceeded")
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 3, withAttempts(4))})
	if len(failed) != 0 || h.hits.Load() != 0 || len(h.log.attempts) != 0 {
		t.Fatalf("failed %v hits %d attempts %d", failed, h.hits.Load(), len(h.log.attempts))
	}
	if len(h.queue.resent) != 1 {
		t.Fatalf("resent %v", h.queue.resent)
	}
	// No attempt was made: the copy's next attempt is still number 5.
	if got := h.queue.resent[0].Job; got.Attempts != 4 || got.ID != testJob.ID {
		t.Fatalf("resent copy %+v, want the same delivery with 4 attempts", got)
	}

	h.queue.resendErr = errors.New("sqs down too")
	failed = h.proc.Process(context.Background(), []delivery.Message{message(t, "m2", 1, withAttempts(4))})
	if len(failed) != 1 || failed[0] != "m2" {
		t.Fatalf("with the queue down too, failed = %v, want [m2]", failed)
	}
}

// A job that panics fails alone, as our fault: the rest of the batch is delivered and the
// panicking job goes back without an attempt spent.
func TestProcessSurvivesAPanickingJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	good := h.eps.eps[testJob.Ref()]
	bomb := withAttempts(1)
	bomb.WebhookID = "wh_bomb"
	h.eps.eps[bomb.Ref()] = delivery.Endpoint{URL: "http://panic.invalid/", Enabled: true, Secrets: good.Secrets}
	h.proc.Sender = delivery.NewSender(&http.Client{Transport: panicky{next: http.DefaultTransport}}, time.Second)
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob), message(t, "m2", 1, bomb)})
	if len(failed) != 0 || h.hits.Load() != 1 {
		t.Fatalf("failed %v, hits %d: want the good job delivered and the other resent", failed, h.hits.Load())
	}
	if len(h.log.attempts) != 1 || h.log.attempts[0].WebhookID != testJob.WebhookID {
		t.Fatalf("attempts %+v: want only the good job's", h.log.attempts)
	}
	if len(h.queue.resent) != 1 || h.queue.resent[0].Job.WebhookID != "wh_bomb" || h.queue.resent[0].Job.Attempts != 1 {
		t.Fatalf("resent %+v, want the panicking job with its 1 attempt", h.queue.resent)
	}
	if h.counter.Get(telemetry.OwnFaultRequeued, "panic") != 1 {
		t.Fatal("the panic was not counted")
	}
}

// panicky panics on requests to panic.invalid and passes the rest on.
type panicky struct{ next http.RoundTripper }

func (p panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == "panic.invalid" {
		panic("boom")
	}
	return p.next.RoundTrip(r)
}

// hangEndpoint points the test job's endpoint at a receiver that answers nothing until the
// request is cancelled or the test ends.
func hangEndpoint(t *testing.T, h *harness) {
	t.Helper()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handler returns, then the server closes
	ep := h.eps.eps[testJob.Ref()]
	ep.URL = slow.URL
	h.eps.eps[testJob.Ref()] = ep
}

// The attempts of a batch end before the function's deadline, with time left to record them:
// a slow receiver never times the whole batch out.
func TestProcessKeepsTimeForBookkeepingBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	hangEndpoint(t, h)
	h.proc.Sender = loopbackSender(time.Minute) // the attempt's own timeout is no help here
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	h.proc.Process(ctx, []delivery.Message{message(t, "m1", 1, testJob)})
	if ctx.Err() != nil {
		t.Fatal("Process ran into the function's deadline")
	}
	if len(h.log.attempts) != 1 || h.log.attempts[0].ErrorClass != delivery.ClassTimeout || len(h.queue.resent) != 1 {
		t.Fatalf("attempts %+v, resent %d: want a timed-out attempt, recorded and resent", h.log.attempts, len(h.queue.resent))
	}
}

// Every attempt gets the Sender's whole timeout and no more, whether the batch's attempts start
// together (one deadline for the batch) or wait for a place among Concurrency (one each), and
// under a function deadline or none.
func TestProcessGivesEachAttemptTheSendersTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name        string
		concurrency int
		deadline    time.Duration
	}{
		{"together, no deadline", 10, 0},
		{"together, under a deadline", 10, time.Minute},
		{"two at a time", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, 200, nil)
			hangEndpoint(t, h)
			h.proc.Sender, h.proc.Concurrency = loopbackSender(timeout), tc.concurrency
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			var msgs []delivery.Message
			for i := range 3 {
				job := testJob
				job.ID = fmt.Sprintf("d%d", i)
				msgs = append(msgs, message(t, job.ID, 1, job))
			}
			start := time.Now()
			h.proc.Process(ctx, msgs)
			if took := time.Since(start); took > 3*timeout+2*time.Second {
				t.Errorf("the batch took %v", took)
			}
			if len(h.log.attempts) != 3 {
				t.Fatalf("%d attempts recorded, want 3", len(h.log.attempts))
			}
			for _, a := range h.log.attempts {
				if a.ErrorClass != delivery.ClassTimeout || a.Latency < timeout-50*time.Millisecond || a.Latency > timeout+time.Second {
					t.Errorf("attempt of %s: class %q after %v, want a timeout after %v", a.DeliveryID, a.ErrorClass, a.Latency, timeout)
				}
			}
		})
	}
}

func TestProcessDropsJobsOfMissingOrDisabledWebhooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	gone := testJob
	gone.WebhookID = "wh_deleted"
	off := testJob
	off.WebhookID = "wh_off"
	h.eps.eps[off.Ref()] = delivery.Endpoint{URL: "http://127.0.0.1:1", Enabled: false, Secrets: []string{newSecret(t)}}
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, gone), message(t, "m2", 1, off)})
	if len(failed) != 0 || h.hits.Load() != 0 {
		t.Fatalf("failed %v hits %d", failed, h.hits.Load())
	}
	if h.counter.Get(telemetry.JobsDropped, delivery.ReasonWebhookDeleted) != 1 || h.counter.Get(telemetry.JobsDropped, delivery.ReasonWebhookDisabled) != 1 {
		t.Fatalf("drops not counted: %v", h.counter.Dimensions(telemetry.JobsDropped))
	}
	// The disabled webhook's job leaves a terminal record that recover finds; the deleted
	// one's has nowhere to go.
	if len(h.log.attempts) != 1 {
		t.Fatalf("attempts %+v, want one record for the disabled webhook's job", h.log.attempts)
	}
	if a := h.log.attempts[0]; a.WebhookID != "wh_off" || a.Outcome != delivery.OutcomeDeadLettered || a.ErrorClass != delivery.ClassWebhookDisabled ||
		a.StatusCode != 0 || string(a.Payload) != string(off.Payload) {
		t.Fatalf("record %+v", a)
	}
	// If that record cannot be written, the job stays on the queue rather than vanish.
	h.log.err = errors.New("dynamodb throttled")
	if failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m3", 1, off)}); len(failed) != 1 || failed[0] != "m3" {
		t.Fatalf("failed %v, want [m3] kept", failed)
	}
}

func TestProcessDeadLettersInvalidJobs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	bad := []delivery.Message{
		{ID: "m1", Body: []byte("not json"), ReceiveCount: 1},
		{ID: "m2", Body: []byte(`{"id":"x","tenant_id":"t","webhook_id":"w","event_type":"e"}`), ReceiveCount: 1},
	}
	failed := h.proc.Process(context.Background(), bad)
	if len(failed) != 0 || len(h.queue.deadLetters) != 2 {
		t.Fatalf("failed %v dead %v", failed, h.queue.deadLetters)
	}
	for _, dl := range h.queue.deadLetters {
		if dl.reason != delivery.ReasonInvalidJob {
			t.Fatalf("reason %q", dl.reason)
		}
	}
}

func TestProcessKeepsMessagesItCouldNotResend(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 500, nil)
	h.queue.resendErr = errors.New("sqs throttled")
	h.log.err = errors.New("dynamodb throttled")
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob)})
	if len(failed) != 1 || failed[0] != "m1" {
		t.Fatalf("failed = %v, want [m1]", failed)
	}
	// Kept on the queue for the wait instead (5 s ±10 % for attempt 2).
	if len(h.queue.retries) != 1 || h.queue.retries[0].Wait < 3*time.Second || h.queue.retries[0].Wait > 6*time.Second {
		t.Fatalf("retries %+v, want m1 hidden for about 5 s", h.queue.retries)
	}
	if h.counter.Total(telemetry.AttemptLogLost) != 1 {
		t.Fatal("lost attempt log not counted")
	}
}

// A dead-letter send that fails must not cost another attempt: the job is resent with every
// attempt spent, so its next receive dead-letters it without a request.
func TestProcessFailedDeadLetterDoesNotPostAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 503, nil)
	h.queue.deadErr = errors.New("sqs throttled")
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, withAttempts(7))})
	if len(failed) != 0 || len(h.queue.resent) != 1 || h.queue.resent[0].Job.Attempts != 8 {
		t.Fatalf("failed %v, resent %+v; want the job resent with all 8 attempts spent", failed, h.queue.resent)
	}
	h.queue.deadErr = nil
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m2", 1, h.queue.resent[0].Job)})
	if h.hits.Load() != 1 || len(h.queue.deadLetters) != 1 {
		t.Fatalf("hits %d, dead letters %d: want the resent job dead-lettered without another POST", h.hits.Load(), len(h.queue.deadLetters))
	}
}

func TestProcessRecordsTheExactPayloadWithEachAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 500, nil)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ep := h.eps.eps[testJob.Ref()]
	ep.URL = srv.URL
	h.eps.eps[testJob.Ref()] = ep
	// A redelivery sends the recorded bytes, so they must be the bytes the receiver got,
	// escapes and number spelling included.
	job := testJob
	job.Payload = []byte(`{"uid":"x","b":"\u00e9 é <>","a":[1.50,1e3]}`)
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, job)})
	sent := <-bodies
	if len(h.log.attempts) != 1 || string(h.log.attempts[0].Payload) != string(sent) {
		t.Fatalf("recorded payload %q, receiver got %q", h.log.attempts[0].Payload, sent)
	}
	if h.counter.Total(telemetry.AttemptLogLost) != 0 {
		t.Fatal("attempt log loss counted for a small payload")
	}
}

func TestProcessLogsAttemptWithoutAnOversizedPayload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 200, nil)
	job := testJob
	job.Payload = []byte(`{"data":"` + strings.Repeat("x", delivery.MaxLoggedPayload) + `"}`)
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, job)})
	if len(failed) != 0 || h.hits.Load() != 1 {
		t.Fatalf("failed %v, hits %d: the delivery itself must go ahead", failed, h.hits.Load())
	}
	if len(h.log.attempts) != 1 || h.log.attempts[0].Payload != nil || h.log.attempts[0].Outcome != delivery.OutcomeSucceeded {
		t.Fatalf("attempts %d, payload of %d bytes: want the attempt recorded without its payload", len(h.log.attempts), len(h.log.attempts[0].Payload))
	}
	if got := h.counter.Get(telemetry.AttemptLogLost, "payload_too_large"); got != 1 {
		t.Fatalf("AttemptLogLost/payload_too_large = %d, want 1", got)
	}

	// At the limit exactly, the payload is kept.
	h = newHarness(t, 200, nil)
	job.Payload = []byte(`"` + strings.Repeat("x", delivery.MaxLoggedPayload-2) + `"`)
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m2", 1, job)})
	if len(h.log.attempts[0].Payload) != delivery.MaxLoggedPayload || h.counter.Total(telemetry.AttemptLogLost) != 0 {
		t.Fatalf("payload of exactly %d bytes: logged %d bytes, lost %d", delivery.MaxLoggedPayload, len(h.log.attempts[0].Payload), h.counter.Total(telemetry.AttemptLogLost))
	}
}
