package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// memoryLog is an attempt log in a slice, with the stores' semantics where Redeliverer relies
// on them (time order, newest first, filters) and a plain offset for a cursor.
type memoryLog struct {
	mu       sync.Mutex
	attempts []delivery.Attempt
	err      error
	reads    atomic.Int64 // AttemptsOfDelivery calls
}

func (m *memoryLog) AttemptsOfDelivery(_ context.Context, tenant, deliveryID string) ([]delivery.Attempt, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []delivery.Attempt
	for _, a := range m.attempts {
		if a.TenantID == tenant && a.DeliveryID == deliveryID {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

func (m *memoryLog) AttemptsOfWebhook(_ context.Context, tenant, webhookID string, q delivery.AttemptQuery) (delivery.AttemptPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return delivery.AttemptPage{}, m.err
	}
	var match []delivery.Attempt
	for _, a := range m.attempts {
		if a.TenantID == tenant && a.WebhookID == webhookID && (q.Outcome == "" || a.Outcome == q.Outcome) && !a.At.Before(q.Since) {
			match = append(match, a)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].At.After(match[j].At) })
	from, _ := strconv.Atoi(q.Cursor)
	limit := q.Limit
	if limit == 0 {
		limit = delivery.DefaultAttemptPage
	}
	to := min(from+limit, len(match))
	page := delivery.AttemptPage{Items: match[from:to]}
	if to < len(match) {
		page.NextCursor = strconv.Itoa(to)
	}
	return page, nil
}

type memoryQueue struct {
	mu      sync.Mutex
	batches [][]delivery.Job
	failOn  int // the Enqueue call (1-based) that fails; 0 for none
}

func (q *memoryQueue) Enqueue(_ context.Context, jobs []delivery.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failOn == len(q.batches)+1 {
		q.failOn = 0
		return errors.New("sqs unavailable")
	}
	q.batches = append(q.batches, append([]delivery.Job(nil), jobs...))
	return nil
}

func (q *memoryQueue) jobs() []delivery.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []delivery.Job
	for _, b := range q.batches {
		out = append(out, b...)
	}
	return out
}

var logBase = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func payloadOf(id string) []byte { return []byte(fmt.Sprintf(`{"uid":%q,"version":1}`, id)) }

// run returns the attempts of one run of a delivery, a second apart from at, with the outcomes.
func run(webhook, id string, at time.Time, outcomes ...delivery.Outcome) []delivery.Attempt {
	var out []delivery.Attempt
	for i, o := range outcomes {
		out = append(out, delivery.Attempt{
			TenantID: "t1", WebhookID: webhook, DeliveryID: id, EventType: "task_completed_event", Number: i + 1,
			At: at.Add(time.Duration(i) * time.Second), StatusCode: 503, Outcome: o, Payload: payloadOf(id),
		})
	}
	return out
}

func newRedeliverer(attempts ...[]delivery.Attempt) (*delivery.Redeliverer, *memoryLog, *memoryQueue) {
	log, q := &memoryLog{}, &memoryQueue{}
	for _, a := range attempts {
		log.attempts = append(log.attempts, a...)
	}
	return &delivery.Redeliverer{Log: log, Queue: q, Now: func() time.Time { return logBase.Add(48 * time.Hour) }}, log, q
}

func TestRedeliverQueuesTheRecordedJobAfresh(t *testing.T) {
	t.Parallel()
	r, _, q := newRedeliverer(run("wh_1", "d-1", logBase, delivery.OutcomeRetrying, delivery.OutcomeDeadLettered))
	job, err := r.Redeliver(context.Background(), "t1", "d-1")
	if err != nil {
		t.Fatal(err)
	}
	want := delivery.Job{ID: "d-1", TenantID: "t1", WebhookID: "wh_1", EventType: "task_completed_event", Payload: payloadOf("d-1")}
	if fmt.Sprint(job) != fmt.Sprint(want) {
		t.Fatalf("job %+v\nwant %+v", job, want)
	}
	if got := q.jobs(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("enqueued %+v", got)
	}
}

func TestRedeliverTakesThePayloadOfTheLatestAttemptThatHasOne(t *testing.T) {
	t.Parallel()
	attempts := run("wh_1", "d-1", logBase, delivery.OutcomeRetrying, delivery.OutcomeRetrying, delivery.OutcomeDeadLettered)
	attempts[0].Payload = []byte(`{"uid":"d-1","version":0}`)
	attempts[2].Payload = nil
	r, _, _ := newRedeliverer(attempts)
	job, err := r.Redeliver(context.Background(), "t1", "d-1")
	if err != nil || string(job.Payload) != string(payloadOf("d-1")) {
		t.Fatalf("payload %s, %v; want attempt 2's", job.Payload, err)
	}
}

func TestRedeliverRefusals(t *testing.T) {
	t.Parallel()
	unlogged := run("wh_1", "d-big", logBase, delivery.OutcomeDeadLettered)
	unlogged[0].Payload = nil
	for _, tc := range []struct {
		name, tenant, id string
		logErr           error
		failEnqueue      bool
		want             error
	}{
		{name: "unknown delivery", tenant: "t1", id: "d-none", want: delivery.ErrDeliveryNotFound},
		{name: "another tenant's delivery", tenant: "t2", id: "d-1", want: delivery.ErrDeliveryNotFound},
		{name: "payload not logged", tenant: "t1", id: "d-big", want: delivery.ErrPayloadNotRecorded},
		{name: "log unavailable", tenant: "t1", id: "d-1", logErr: errors.New("throttled")},
		{name: "queue unavailable", tenant: "t1", id: "d-1", failEnqueue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, log, q := newRedeliverer(run("wh_1", "d-1", logBase, delivery.OutcomeDeadLettered), unlogged)
			log.err = tc.logErr
			if tc.failEnqueue {
				q.failOn = 1
			}
			_, err := r.Redeliver(context.Background(), tc.tenant, tc.id)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if tc.want != nil && errors.Is(err, delivery.ErrDeliveryNotFound) != errors.Is(tc.want, delivery.ErrDeliveryNotFound) {
				t.Fatalf("error %v is not a not-found", err)
			}
			if len(q.jobs()) != 0 {
				t.Fatalf("enqueued %+v", q.jobs())
			}
		})
	}
}

func TestRecoverQueuesEachDeliveryThatFailedLastOnce(t *testing.T) {
	t.Parallel()
	since := logBase
	dead, succeeded, retrying := delivery.OutcomeDeadLettered, delivery.OutcomeSucceeded, delivery.OutcomeRetrying
	r, _, q := newRedeliverer(
		run("wh_1", "d-dead", since.Add(time.Minute), retrying, dead),
		run("wh_1", "d-twice", since.Add(2*time.Minute), dead),
		run("wh_1", "d-twice", since.Add(3*time.Minute), retrying, dead), // redelivered, failed again
		run("wh_1", "d-recovered", since.Add(4*time.Minute), dead),
		run("wh_1", "d-recovered", since.Add(5*time.Minute), succeeded), // redelivered, succeeded
		run("wh_1", "d-requeued", since.Add(6*time.Minute), dead),
		run("wh_1", "d-requeued", since.Add(7*time.Minute), retrying), // redelivery under way
		run("wh_1", "d-ok", since.Add(8*time.Minute), retrying, succeeded),
		run("wh_1", "d-disabled", since.Add(9*time.Minute), delivery.OutcomeDisabled),
		run("wh_1", "d-before", since.Add(-time.Minute), dead),
		run("wh_2", "d-elsewhere", since.Add(time.Minute), dead),
	)
	queued, err := r.Recover(context.Background(), "t1", "wh_1", since, 10)
	if err != nil || queued != 2 {
		t.Fatalf("queued %d, %v; want 2", queued, err)
	}
	var ids []string
	for _, j := range q.jobs() {
		if j.Attempts != 0 || j.WebhookID != "wh_1" || string(j.Payload) != string(payloadOf(j.ID)) {
			t.Fatalf("job %+v", j)
		}
		ids = append(ids, j.ID)
	}
	if fmt.Sprint(ids) != "[d-twice d-dead]" { // newest failure first
		t.Fatalf("redelivered %v, want [d-twice d-dead]", ids)
	}
}

func TestRecoverIsBounded(t *testing.T) {
	t.Parallel()
	var many [][]delivery.Attempt
	for i := range 1005 {
		many = append(many, run("wh_1", fmt.Sprintf("d-%04d", i), logBase.Add(time.Duration(i)*time.Second), delivery.OutcomeDeadLettered))
	}
	for _, tc := range []struct{ limit, want int }{{120, 120}, {1, 1}, {0, delivery.MaxRecover}, {5000, delivery.MaxRecover}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			t.Parallel()
			r, log, q := newRedeliverer(many...)
			queued, err := r.Recover(context.Background(), "t1", "wh_1", time.Time{}, tc.limit)
			if err != nil || queued != tc.want || len(q.jobs()) != tc.want {
				t.Fatalf("queued %d (%d jobs), %v; want %d", queued, len(q.jobs()), err, tc.want)
			}
			// Newest first, and no delivery read beyond the limit when none is skipped.
			if first := q.jobs()[0].ID; first != "d-1004" {
				t.Fatalf("first job %s, want the newest failure d-1004", first)
			}
			if reads := log.reads.Load(); reads != int64(tc.want) {
				t.Fatalf("%d deliveries read to queue %d", reads, tc.want)
			}
			for _, b := range q.batches {
				if len(b) > delivery.MaxAttemptPage {
					t.Fatalf("one enqueue of %d jobs", len(b))
				}
			}
		})
	}
}

func TestRecoverReportsWhatItQueuedBeforeAFailure(t *testing.T) {
	t.Parallel()
	var many [][]delivery.Attempt
	for i := range 250 {
		many = append(many, run("wh_1", fmt.Sprintf("d-%04d", i), logBase.Add(time.Duration(i)*time.Second), delivery.OutcomeDeadLettered))
	}
	r, _, q := newRedeliverer(many...)
	q.failOn = 2
	queued, err := r.Recover(context.Background(), "t1", "wh_1", time.Time{}, 0)
	if err == nil || queued != delivery.MaxAttemptPage || len(q.jobs()) != queued {
		t.Fatalf("queued %d (%d jobs), %v; want the first batch of %d and an error", queued, len(q.jobs()), err, delivery.MaxAttemptPage)
	}
}

func TestRecoverRefusesASinceInTheFuture(t *testing.T) {
	t.Parallel()
	r, log, _ := newRedeliverer(run("wh_1", "d-1", logBase, delivery.OutcomeDeadLettered))
	_, err := r.Recover(context.Background(), "t1", "wh_1", logBase.Add(72*time.Hour), 10)
	if !errors.Is(err, delivery.ErrInvalidQuery) || log.reads.Load() != 0 {
		t.Fatalf("error %v after %d reads, want ErrInvalidQuery before any", err, log.reads.Load())
	}
}

func TestAttemptQueryResolve(t *testing.T) {
	t.Parallel()
	last := delivery.Attempt{At: time.Date(2026, 11, 28, 13, 0, 0, 123456789, time.FixedZone("CET", 3600)), DeliveryID: "d-1", Number: 3}
	cursor := delivery.NextCursor("t1", "wh_1", last)
	for _, tc := range []struct {
		name            string
		tenant, webhook string
		q               delivery.AttemptQuery
		limit           int
		after           bool
		err             error
	}{
		{name: "defaults", tenant: "t1", webhook: "wh_1", limit: delivery.DefaultAttemptPage},
		{name: "largest page", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Limit: 100}, limit: 100},
		{name: "page too large", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Limit: 101}, err: delivery.ErrInvalidQuery},
		{name: "negative page", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Limit: -5}, err: delivery.ErrInvalidQuery},
		{name: "every outcome", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Outcome: delivery.OutcomeDisabled}, limit: 20},
		{name: "unknown outcome", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Outcome: "failed"}, err: delivery.ErrInvalidQuery},
		{name: "since beyond 9999", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, err: delivery.ErrInvalidQuery},
		{name: "own cursor", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Cursor: cursor}, limit: 20, after: true},
		{name: "another webhook's cursor", tenant: "t1", webhook: "wh_2", q: delivery.AttemptQuery{Cursor: cursor}, err: delivery.ErrInvalidCursor},
		{name: "another tenant's cursor", tenant: "t2", webhook: "wh_1", q: delivery.AttemptQuery{Cursor: cursor}, err: delivery.ErrInvalidCursor},
		{name: "garbage cursor", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Cursor: "%%%"}, err: delivery.ErrInvalidCursor},
		{name: "base64 of nonsense", tenant: "t1", webhook: "wh_1", q: delivery.AttemptQuery{Cursor: "eyJ2IjoyfQ"}, err: delivery.ErrInvalidCursor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limit, after, err := tc.q.Resolve(tc.tenant, tc.webhook)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !errors.Is(err, delivery.ErrInvalidQuery) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || limit != tc.limit || (after != nil) != tc.after {
				t.Fatalf("limit %d, after %+v, %v", limit, after, err)
			}
			if after != nil && (!after.At.Equal(last.At) || after.DeliveryID != "d-1" || after.Number != 3) {
				t.Fatalf("cursor resumes after %+v, want %+v", *after, last.Key())
			}
		})
	}
}
