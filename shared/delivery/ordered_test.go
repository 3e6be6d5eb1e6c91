package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/telemetry"
)

// orderedHarness is a processor over two webhooks whose receiver records the order of the
// deliveries it answers 2xx and fails those its fail function names.
type orderedHarness struct {
	proc  *delivery.Processor
	log   *historyLog
	queue *fakeQueue

	mu   sync.Mutex
	got  []string // webhook-id headers, in arrival order
	fail func(id string) bool
}

// historyLog is fakeLog that also answers AttemptsOfDelivery, which counts an ordered job's
// attempts.
type historyLog struct {
	fakeLog
	lookups int
}

func (h *historyLog) AttemptsOfDelivery(_ context.Context, tenant, id string) ([]delivery.Attempt, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lookups++
	var out []delivery.Attempt
	for _, a := range h.attempts {
		if a.TenantID == tenant && a.DeliveryID == id {
			out = append(out, a)
		}
	}
	return out, nil
}

func newOrderedHarness(t *testing.T) *orderedHarness {
	t.Helper()
	h := &orderedHarness{log: &historyLog{}, queue: &fakeQueue{}, fail: func(string) bool { return false }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.fail(id) {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		h.got = append(h.got, id)
	}))
	t.Cleanup(srv.Close)
	eps := &fakeEndpoints{eps: map[delivery.EndpointRef]delivery.Endpoint{}}
	for _, hook := range []string{"wh_a", "wh_b"} {
		eps.eps[delivery.EndpointRef{TenantID: "t1", WebhookID: hook}] = delivery.Endpoint{URL: srv.URL, Enabled: true, Secrets: []string{newSecret(t)}}
	}
	sched, _ := delivery.ParseSchedule(delivery.DefaultSchedule)
	h.proc = &delivery.Processor{Endpoints: eps, Disabler: eps, Log: h.log, History: h.log, Queue: h.queue,
		Sender: loopbackSender(time.Second), Schedule: sched, Counter: telemetry.NewMemory()}
	return h
}

func orderedJob(hook string, n int) delivery.Job {
	id := fmt.Sprintf("%s-%02d", hook, n)
	return delivery.Job{ID: id, TenantID: "t1", WebhookID: hook, EventType: "task_submitted_event",
		Payload: []byte(`{"uid":"` + id + `"}`), Ordered: true}
}

func (h *orderedHarness) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func TestOrderedFailureHoldsBackLaterJobsOfItsWebhookOnly(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	h.fail = func(id string) bool { return id == "wh_a-02" }
	var msgs []delivery.Message
	for i, job := range []delivery.Job{orderedJob("wh_a", 1), orderedJob("wh_a", 2), orderedJob("wh_b", 1), orderedJob("wh_a", 3), orderedJob("wh_b", 2)} {
		msgs = append(msgs, message(t, fmt.Sprintf("m%d", i), 1, job))
	}
	failed := h.proc.Process(context.Background(), msgs)

	got := h.received()
	if !slices.Equal(got, []string{"wh_a-01", "wh_b-01", "wh_b-02"}) && !slices.Equal(got, []string{"wh_b-01", "wh_a-01", "wh_b-02"}) &&
		!slices.Equal(got, []string{"wh_b-01", "wh_b-02", "wh_a-01"}) {
		t.Fatalf("receiver got %v: want wh_a-01 and both of wh_b, and nothing of wh_a after the failing wh_a-02", got)
	}
	slices.Sort(failed)
	if !slices.Equal(failed, []string{"m1", "m3"}) {
		t.Fatalf("messages kept %v, want the failing one and the one behind it (m1, m3)", failed)
	}
	if len(h.queue.resent) != 0 {
		t.Fatalf("an ordered job was sent again as a new message, which would put it behind its group: %+v", h.queue.resent)
	}
	waits := map[string]time.Duration{}
	for _, r := range h.queue.retries {
		waits[r.Message.ID] = r.Wait
	}
	// The failing job waits in place for its first retry (5 s ±10 %); the one behind it is
	// visible again at once, to queue behind it.
	if w, ok := waits["m1"]; !ok || w < 4*time.Second || w > 6*time.Second {
		t.Fatalf("failing job kept for %s (set %v), want the schedule's first wait", w, ok)
	}
	if w, ok := waits["m3"]; !ok || w != 0 {
		t.Fatalf("job behind the failure kept for %s (set %v), want 0", w, ok)
	}
	var retrying int
	for _, a := range h.log.attempts {
		if a.DeliveryID == "wh_a-02" && a.Outcome == delivery.OutcomeRetrying && a.Number == 1 {
			retrying++
		}
		if a.DeliveryID == "wh_a-03" {
			t.Fatalf("wh_a-03 was attempted behind a failing delivery: %+v", a)
		}
	}
	if retrying != 1 {
		t.Fatalf("attempts %+v: want wh_a-02's first attempt recorded as retrying", h.log.attempts)
	}
}

func TestOrderedRepeatReceiveCountsAttemptsFromTheLog(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	job := orderedJob("wh_a", 1)
	past := time.Now().Add(-time.Minute)
	h.log.attempts = []delivery.Attempt{
		{TenantID: "t1", WebhookID: "wh_a", DeliveryID: job.ID, Number: 1, Outcome: delivery.OutcomeRetrying, At: past.Add(-5 * time.Second), NextAttemptAt: past.Add(-time.Minute)},
		{TenantID: "t1", WebhookID: "wh_a", DeliveryID: job.ID, Number: 2, Outcome: delivery.OutcomeRetrying, At: past.Add(-5 * time.Minute), NextAttemptAt: past},
	}
	// The message carries attempts 0, as sent; its fourth receive (one was a crash) is its
	// third attempt.
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 4, job)})
	if len(failed) != 0 || !slices.Equal(h.received(), []string{job.ID}) {
		t.Fatalf("failed %v, received %v", failed, h.received())
	}
	last := h.log.attempts[len(h.log.attempts)-1]
	if last.Number != 3 || last.Outcome != delivery.OutcomeSucceeded {
		t.Fatalf("attempt recorded %+v, want number 3, succeeded", last)
	}
}

func TestOrderedRepeatReceiveBeforeItsRetryIsDueWaitsWithoutAnAttempt(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	job := orderedJob("wh_a", 1)
	due := time.Now().Add(3 * time.Hour)
	h.log.attempts = []delivery.Attempt{{TenantID: "t1", WebhookID: "wh_a", DeliveryID: job.ID, Number: 5, Outcome: delivery.OutcomeRetrying, At: time.Now(), NextAttemptAt: due}}
	behind := orderedJob("wh_a", 2)
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 2, job), message(t, "m2", 1, behind)})
	if len(h.received()) != 0 || len(failed) != 2 {
		t.Fatalf("received %v, kept %v: want nothing sent, both kept", h.received(), failed)
	}
	if w := h.queue.retries[0].Wait; h.queue.retries[0].Message.ID != "m1" || w < 3*time.Hour-time.Minute || w > 3*time.Hour {
		t.Fatalf("kept %+v, want m1 hidden until its retry is due", h.queue.retries[0])
	}
}

func TestOrderedDeliveryAlreadySucceededIsNotSentAgainAndTheNextGoesOn(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	done, next := orderedJob("wh_a", 1), orderedJob("wh_a", 2)
	// Delivered, but the message was not deleted (the batch was cut short).
	h.log.attempts = []delivery.Attempt{{TenantID: "t1", WebhookID: "wh_a", DeliveryID: done.ID, Number: 1, Outcome: delivery.OutcomeSucceeded, At: time.Now()}}
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 2, done), message(t, "m2", 2, next)})
	if len(failed) != 0 || !slices.Equal(h.received(), []string{next.ID}) {
		t.Fatalf("kept %v, received %v: want only %s sent", failed, h.received(), next.ID)
	}
}

func TestOrderedLastAttemptFailingDeadLettersAndReleasesTheGroup(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	head, next := orderedJob("wh_a", 1), orderedJob("wh_a", 2)
	h.fail = func(id string) bool { return id == head.ID }
	lastNumber := h.proc.Schedule.MaxAttempts()
	h.log.attempts = []delivery.Attempt{{TenantID: "t1", WebhookID: "wh_a", DeliveryID: head.ID, Number: lastNumber - 1, Outcome: delivery.OutcomeRetrying,
		At: time.Now().Add(-11 * time.Hour), NextAttemptAt: time.Now().Add(-time.Second)}}
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 9, head), message(t, "m2", 9, next)})
	if len(failed) != 0 || len(h.queue.deadLetters) != 1 || h.queue.deadLetters[0].reason != delivery.ReasonAttemptsExhausted {
		t.Fatalf("kept %v, dead letters %+v: want the head dead-lettered after its last attempt", failed, h.queue.deadLetters)
	}
	if !slices.Equal(h.received(), []string{next.ID}) {
		t.Fatalf("received %v: want the next delivery sent once the head is dead-lettered", h.received())
	}
}

func TestOrderedJobNeedsAnAttemptLogToCountItsAttempts(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	h.proc.History = nil
	failed := h.proc.Process(context.Background(), []delivery.Message{message(t, "m1", 1, orderedJob("wh_a", 1))})
	if len(failed) != 0 || len(h.queue.deadLetters) != 1 || h.queue.deadLetters[0].reason != delivery.ReasonInvalidJob || len(h.received()) != 0 {
		t.Fatalf("kept %v, dead letters %+v, received %v: want the job refused as invalid", failed, h.queue.deadLetters, h.received())
	}
}

func TestOrderedLookupsStopAtTheFirstJobNeverAttempted(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	head := orderedJob("wh_a", 1)
	h.log.attempts = []delivery.Attempt{{TenantID: "t1", WebhookID: "wh_a", DeliveryID: head.ID, Number: 1, Outcome: delivery.OutcomeRetrying,
		At: time.Now().Add(-6 * time.Second), NextAttemptAt: time.Now().Add(-time.Second)}}
	// The head and the four behind it were all received before (put back behind the head).
	msgs := []delivery.Message{message(t, "m0", 2, head)}
	for i := 2; i <= 5; i++ {
		msgs = append(msgs, message(t, fmt.Sprintf("m%d", i), 2, orderedJob("wh_a", i)))
	}
	if failed := h.proc.Process(context.Background(), msgs); len(failed) != 0 || len(h.received()) != 5 {
		t.Fatalf("kept %v, received %v", failed, h.received())
	}
	// The head's lookup finds its attempt; the next finds none, so the three after it, which
	// can only have waited behind it, are not looked up.
	if h.log.lookups != 2 {
		t.Fatalf("%d attempt-log lookups, want 2", h.log.lookups)
	}
}

// slotBook is an in-memory RateLimiter: slots interval apart from the last handed out.
type slotBook struct {
	mu   sync.Mutex
	next time.Time
}

func (b *slotBook) Reserve(_ context.Context, _ delivery.EndpointRef, n int, interval time.Duration, now time.Time) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	first := b.next
	if first.Before(now) {
		first = now
	}
	b.next = first.Add(time.Duration(n) * interval)
	return first, nil
}

func TestOrderedRateLimitedWebhookKeepsItsOrderAndPace(t *testing.T) {
	t.Parallel()
	h := newOrderedHarness(t)
	eps := h.proc.Endpoints.(*fakeEndpoints)
	ref := delivery.EndpointRef{TenantID: "t1", WebhookID: "wh_a"}
	ep := eps.eps[ref]
	ep.RateLimitPerSecond = 20
	eps.eps[ref] = ep
	h.proc.Limiter = &slotBook{}
	var msgs []delivery.Message
	var want []string
	for i := 1; i <= 6; i++ {
		job := orderedJob("wh_a", i)
		msgs = append(msgs, message(t, fmt.Sprintf("m%d", i), 1, job))
		want = append(want, job.ID)
	}
	start := time.Now()
	if failed := h.proc.Process(context.Background(), msgs); len(failed) != 0 {
		t.Fatalf("kept %v", failed)
	}
	// Six slots 50 ms apart, the first at once: the last goes out at least 250 ms in.
	if got := h.received(); !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	if took := time.Since(start); took < 240*time.Millisecond {
		t.Fatalf("six deliveries at 20/s took %s, want at least 250 ms", took)
	}
	if len(h.queue.resent) != 0 {
		t.Fatalf("an ordered job was sent again: %+v", h.queue.resent)
	}
}
