package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
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
	requeued    []delivery.Job
	requeueErr  error
	deadLetters []deadLetter
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

func (f *fakeQueue) Requeue(_ context.Context, job delivery.Job, _ time.Duration) error {
	f.requeued = append(f.requeued, job)
	return f.requeueErr
}

func (f *fakeQueue) DeadLetter(_ context.Context, body []byte, reason string, class delivery.Class) error {
	f.mu.Lock()
	defer f.mu.Unlock()
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

func message(t *testing.T, id string, receiveCount int, job delivery.Job) delivery.Message {
	t.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Message{ID: id, ReceiptHandle: "rh-" + id, Body: b, ReceiveCount: receiveCount}
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

func TestProcessFailureSchedulesRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 500, nil)
	job := testJob
	job.AttemptOffset = 1
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 2, job)})
	// The message stays on the queue (a batch item failure) with its visibility set to the wait.
	if len(failed) != 1 || failed[0] != "m1" || len(h.queue.retries) != 1 {
		t.Fatalf("failed %v, retries %v", failed, h.queue.retries)
	}
	// Receive 2 plus offset 1 is attempt 3, whose wait is the schedule's third entry (30 min).
	if w := h.queue.retries[0].Wait; w < 24*time.Minute || w > 36*time.Minute {
		t.Fatalf("wait %s, want 30m ±20%%", w)
	}
	a := h.log.attempts[0]
	if a.Number != 3 || a.Outcome != delivery.OutcomeRetrying || a.ErrorClass != delivery.ClassHTTP5xx || a.NextAttemptAt.IsZero() {
		t.Fatalf("attempt %+v", a)
	}
}

func TestProcessHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 429, http.Header{"Retry-After": {"7200"}})
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob)})
	if len(h.queue.retries) != 1 || h.queue.retries[0].Wait != 2*time.Hour {
		t.Fatalf("retries %+v, want one after exactly 2h", h.queue.retries)
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
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 8, testJob)})
	if len(h.queue.deadLetters) != 1 || len(h.queue.retries) != 0 {
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
	h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 9, testJob)})
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
	job := testJob
	job.AttemptOffset = 2
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 3, job)})
	if len(failed) != 0 || h.hits.Load() != 0 || len(h.log.attempts) != 0 {
		t.Fatalf("failed %v hits %d attempts %d", failed, h.hits.Load(), len(h.log.attempts))
	}
	if len(h.queue.requeued) != 1 {
		t.Fatalf("requeued %v", h.queue.requeued)
	}
	// This receive was attempt 5 (3+2) but made no attempt: the copy's first receive must be
	// attempt 5 again.
	if got := h.queue.requeued[0].AttemptOffset + 1; got != 5 {
		t.Fatalf("requeued copy's first attempt is %d, want 5", got)
	}
	if h.queue.requeued[0].ID != testJob.ID {
		t.Fatal("requeued copy changed the delivery id")
	}

	h.queue.requeueErr = errors.New("sqs down too")
	failed = h.proc.Process(context.Background(), []delivery.Message{message(t, "m2", 1, job)})
	if len(failed) != 1 || failed[0] != "m2" {
		t.Fatalf("with the queue down too, failed = %v, want [m2]", failed)
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

func TestProcessReturnsMessagesItCouldNotReschedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 500, nil)
	h.queue.retryErr = errors.New("sqs throttled")
	h.log.err = errors.New("dynamodb throttled")
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, testJob)})
	if len(failed) != 1 || failed[0] != "m1" {
		t.Fatalf("failed = %v, want [m1]", failed)
	}
	if h.counter.Total(telemetry.AttemptLogLost) != 1 {
		t.Fatal("lost attempt log not counted")
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
