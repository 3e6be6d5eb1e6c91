package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// AttemptQueryLog is an attempt log with the delivery log's reads.
type AttemptQueryLog interface {
	AttemptLog
	delivery.AttemptReader
}

// TestAttemptQueries runs the delivery-log contract (a webhook's attempts page by page, a
// delivery's payload, redelivery over the real store) against a fresh, empty log per subtest.
func TestAttemptQueries(t *testing.T, newLog func(t *testing.T) AttemptQueryLog) {
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

	t.Run("a webhook's attempts page newest first, each exactly once", func(t *testing.T) {
		l := newLog(t)
		// Scenario: 45 attempts of wh_1, three at each instant (so the delivery id breaks
		// ties), written shuffled among attempts of another webhook and another tenant; read
		// in pages of 7.
		var mine, all []delivery.Attempt
		for i := range 45 {
			a := logAttempt("tenant-a", "wh_1", fmt.Sprintf("d-%02d", i%15), 1+i/15, base.Add(time.Duration(i/3)*time.Second), delivery.OutcomeRetrying)
			mine = append(mine, a)
			all = append(all, a,
				logAttempt("tenant-a", "wh_2", fmt.Sprintf("x-%02d", i), 1, a.At, delivery.OutcomeSucceeded),
				logAttempt("tenant-b", "wh_1", fmt.Sprintf("y-%02d", i), 1, a.At, delivery.OutcomeSucceeded))
		}
		record(ctx, t, l, shuffled(all))
		got := readAll(ctx, t, l, "tenant-a", "wh_1", delivery.AttemptQuery{Limit: 7}, 7)
		want := newestFirst(mine)
		if len(got) != len(want) {
			t.Fatalf("read %d attempts, want %d", len(got), len(want))
		}
		for i := range got {
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				t.Fatalf("attempt %d of the listing\n got  %+v\n want %+v", i, got[i], want[i])
			}
		}
	})

	t.Run("an outcome filter fills every page that has a cursor", func(t *testing.T) {
		l := newLog(t)
		// Scenario: 60 attempts, one in three dead-lettered, read 7 at a time: pages of 7, 7
		// and 6, never a short page followed by more.
		var all []delivery.Attempt
		for i := range 60 {
			outcome := []delivery.Outcome{delivery.OutcomeDeadLettered, delivery.OutcomeSucceeded, delivery.OutcomeRetrying}[i%3]
			all = append(all, logAttempt("tenant-a", "wh_1", fmt.Sprintf("d-%02d", i), 1, base.Add(time.Duration(i)*time.Minute), outcome))
		}
		record(ctx, t, l, all)
		got := readAll(ctx, t, l, "tenant-a", "wh_1", delivery.AttemptQuery{Outcome: delivery.OutcomeDeadLettered, Limit: 7}, 7)
		if keys(got) != keys(newestFirst(only(all, delivery.OutcomeDeadLettered))) {
			t.Fatalf("dead-lettered attempts\n got  %s\n want %s", keys(got), keys(newestFirst(only(all, delivery.OutcomeDeadLettered))))
		}

		// The only match is the oldest attempt: the first page must reach it.
		l = newLog(t)
		var sparse []delivery.Attempt
		for i := range 60 {
			outcome := delivery.OutcomeSucceeded
			if i == 0 {
				outcome = delivery.OutcomeDisabled
			}
			sparse = append(sparse, logAttempt("tenant-a", "wh_1", fmt.Sprintf("d-%02d", i), 1, base.Add(time.Duration(i)*time.Minute), outcome))
		}
		record(ctx, t, l, sparse)
		page, err := l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{Outcome: delivery.OutcomeDisabled, Limit: 7})
		if err != nil || len(page.Items) != 1 || page.Items[0].DeliveryID != "d-00" || page.NextCursor != "" {
			t.Fatalf("sparse filter: %d items, cursor %q, %v; want d-00 alone", len(page.Items), page.NextCursor, err)
		}
		page, err = l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{Outcome: delivery.OutcomeRetrying})
		if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
			t.Fatalf("filter matching nothing: %+v, %v", page, err)
		}
	})

	t.Run("since keeps the attempts at or after it", func(t *testing.T) {
		l := newLog(t)
		var all []delivery.Attempt
		for i := range 30 {
			outcome := delivery.OutcomeSucceeded
			if i%2 == 0 {
				outcome = delivery.OutcomeDeadLettered
			}
			all = append(all, logAttempt("tenant-a", "wh_1", fmt.Sprintf("d-%02d", i), 1, base.Add(time.Duration(i)*time.Minute), outcome))
		}
		record(ctx, t, l, all)
		since := base.Add(20 * time.Minute) // exactly the time of d-20, which is kept
		got := readAll(ctx, t, l, "tenant-a", "wh_1", delivery.AttemptQuery{Since: since, Limit: 4}, 4)
		if want := newestFirst(all[20:]); keys(got) != keys(want) {
			t.Fatalf("since %s\n got  %s\n want %s", since, keys(got), keys(want))
		}
		got = readAll(ctx, t, l, "tenant-a", "wh_1", delivery.AttemptQuery{Since: since, Outcome: delivery.OutcomeDeadLettered, Limit: 2}, 2)
		if want := newestFirst(only(all[20:], delivery.OutcomeDeadLettered)); keys(got) != keys(want) {
			t.Fatalf("since and outcome\n got  %s\n want %s", keys(got), keys(want))
		}
		// A cursor from a page read without Since, used with a Since past its position.
		first, err := l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{Limit: 25})
		if err != nil || first.NextCursor == "" {
			t.Fatalf("first page: %v", err)
		}
		page, err := l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{Since: since, Cursor: first.NextCursor})
		if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
			t.Fatalf("cursor older than since: %d items, %v; want an empty last page", len(page.Items), err)
		}
	})

	t.Run("the page size defaults to 20 and is refused outside 1 to 100", func(t *testing.T) {
		l := newLog(t)
		var all []delivery.Attempt
		for i := range 25 {
			all = append(all, logAttempt("tenant-a", "wh_1", fmt.Sprintf("d-%02d", i), 1, base.Add(time.Duration(i)*time.Second), delivery.OutcomeSucceeded))
		}
		record(ctx, t, l, all)
		page, err := l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{})
		if err != nil || len(page.Items) != delivery.DefaultAttemptPage || page.NextCursor == "" {
			t.Fatalf("default page: %d items, cursor %q, %v", len(page.Items), page.NextCursor, err)
		}
		for _, q := range []delivery.AttemptQuery{{Limit: -1}, {Limit: 101}, {Outcome: "failed"}, {Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
			if _, err := l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", q); !errors.Is(err, delivery.ErrInvalidQuery) {
				t.Errorf("query %+v: %v, want ErrInvalidQuery", q, err)
			}
		}
		page, err = l.AttemptsOfWebhook(ctx, "tenant-a", "wh_none", delivery.AttemptQuery{})
		if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
			t.Fatalf("webhook without attempts: %+v, %v", page, err)
		}
	})

	t.Run("tenants and webhooks see only their own attempts and cursors", func(t *testing.T) {
		l := newLog(t)
		var all []delivery.Attempt
		for i := range 12 {
			at := base.Add(time.Duration(i) * time.Second)
			all = append(all,
				logAttempt("tenant-a", "wh_1", fmt.Sprintf("a1-%02d", i), 1, at, delivery.OutcomeSucceeded),
				logAttempt("tenant-a", "wh_2", fmt.Sprintf("a2-%02d", i), 1, at, delivery.OutcomeSucceeded),
				logAttempt("tenant-b", "wh_1", fmt.Sprintf("b1-%02d", i), 1, at, delivery.OutcomeSucceeded))
		}
		record(ctx, t, l, all)
		for _, scope := range []struct{ tenant, webhook, prefix string }{
			{"tenant-a", "wh_1", "a1-"}, {"tenant-a", "wh_2", "a2-"}, {"tenant-b", "wh_1", "b1-"},
		} {
			got := readAll(ctx, t, l, scope.tenant, scope.webhook, delivery.AttemptQuery{Limit: 5}, 5)
			if len(got) != 12 {
				t.Fatalf("%s/%s: %d attempts, want 12", scope.tenant, scope.webhook, len(got))
			}
			for _, a := range got {
				if a.TenantID != scope.tenant || a.WebhookID != scope.webhook || !strings.HasPrefix(a.DeliveryID, scope.prefix) {
					t.Fatalf("%s/%s lists %+v", scope.tenant, scope.webhook, a)
				}
			}
		}
		page, err := l.AttemptsOfWebhook(ctx, "tenant-a", "wh_1", delivery.AttemptQuery{Limit: 5})
		if err != nil || page.NextCursor == "" {
			t.Fatalf("first page: %v", err)
		}
		for _, replay := range []struct{ tenant, webhook, cursor string }{
			{"tenant-a", "wh_2", page.NextCursor},
			{"tenant-b", "wh_1", page.NextCursor},
			{"tenant-a", "wh_1", "not-a-cursor"},
			{"tenant-a", "wh_1", page.NextCursor[:len(page.NextCursor)/2]},
		} {
			_, err := l.AttemptsOfWebhook(ctx, replay.tenant, replay.webhook, delivery.AttemptQuery{Cursor: replay.cursor})
			if !errors.Is(err, delivery.ErrInvalidCursor) || !errors.Is(err, delivery.ErrInvalidQuery) {
				t.Errorf("cursor %.12q… on %s/%s: %v, want ErrInvalidCursor", replay.cursor, replay.tenant, replay.webhook, err)
			}
		}
		if got, err := l.AttemptsOfDelivery(ctx, "tenant-b", "a1-00"); err != nil || len(got) != 0 {
			t.Fatalf("tenant-b reads tenant-a's delivery: %+v, %v", got, err)
		}
	})

	t.Run("payloads round-trip byte for byte", func(t *testing.T) {
		l := newLog(t)
		big := `{"data":"` + strings.Repeat("x", 200<<10) + `"}` // near MaxLoggedPayload
		payloads := []string{
			`{"uid":"d-0","version":1}`,
			"{\n  \"uid\": \"d-1\",\n\t\"note\": \"spaces and tabs kept\"\n}\n",
			`{"escaped":"\u00e9\u003c\u003e\u0026","raw":"é 中文 😀 <>&","numbers":[1.50,1e3,-0]}`,
			big,
		}
		var all []delivery.Attempt
		for i, p := range payloads {
			a := logAttempt("tenant-a", "wh_1", fmt.Sprintf("d-%d", i), 1, base.Add(time.Duration(i)*time.Second), delivery.OutcomeSucceeded)
			a.Payload = []byte(p)
			all = append(all, a)
		}
		unlogged := logAttempt("tenant-a", "wh_1", "d-none", 1, base.Add(time.Minute), delivery.OutcomeSucceeded)
		unlogged.Payload = nil
		record(ctx, t, l, append(all, unlogged))
		for i, p := range payloads {
			got, err := l.AttemptsOfDelivery(ctx, "tenant-a", fmt.Sprintf("d-%d", i))
			if err != nil || len(got) != 1 || !bytes.Equal(got[0].Payload, []byte(p)) {
				t.Fatalf("payload %d read back as %.80q (%v), want %.80q", i, payloadOf(got), err, p)
			}
		}
		listed := readAll(ctx, t, l, "tenant-a", "wh_1", delivery.AttemptQuery{Limit: 2}, 2)
		for _, a := range listed {
			want := []byte(nil)
			if a.DeliveryID != "d-none" {
				want = []byte(payloads[a.DeliveryID[2]-'0'])
			}
			if !bytes.Equal(a.Payload, want) {
				t.Fatalf("listed payload of %s: %.80q, want %.80q", a.DeliveryID, a.Payload, want)
			}
		}
	})

	t.Run("a Slack post's attempts keep where it went, and redeliver goes there again", func(t *testing.T) {
		l := newLog(t)
		post := logAttempt("tenant-a", "slk_1", "d-slack", 1, base, delivery.OutcomeDeadLettered)
		post.Kind, post.OwnerID = delivery.KindSlack, "user-1"
		record(ctx, t, l, []delivery.Attempt{post})
		got, err := l.AttemptsOfDelivery(ctx, "tenant-a", "d-slack")
		if err != nil || len(got) != 1 || got[0].Kind != delivery.KindSlack || got[0].OwnerID != "user-1" {
			t.Fatalf("attempts %+v, %v; want the Slack channel's kind and owner back", got, err)
		}
		q := &recordingQueue{}
		r := &delivery.Redeliverer{Log: l, Queue: q, Now: func() time.Time { return base.Add(time.Hour) }}
		job, err := r.Redeliver(ctx, "tenant-a", "d-slack")
		if err != nil || job.Kind != delivery.KindSlack || job.OwnerID != "user-1" || job.WebhookID != "slk_1" || job.ID != "d-slack" {
			t.Fatalf("redelivered %+v, %v", job, err)
		}
	})

	t.Run("a redelivered delivery's attempts come back in time order", func(t *testing.T) {
		l := newLog(t)
		first := logAttempt("tenant-a", "wh_1", "d-1", 1, base, delivery.OutcomeRetrying)
		dead := logAttempt("tenant-a", "wh_1", "d-1", 2, base.Add(5*time.Second), delivery.OutcomeDeadLettered)
		again := logAttempt("tenant-a", "wh_1", "d-1", 1, base.Add(time.Hour), delivery.OutcomeSucceeded)
		record(ctx, t, l, []delivery.Attempt{again, dead, first})
		got, err := l.AttemptsOfDelivery(ctx, "tenant-a", "d-1")
		if err != nil || keys(got) != keys([]delivery.Attempt{first, dead, again}) {
			t.Fatalf("attempts %s, %v; want the first run, then the redelivery", keys(got), err)
		}
	})

	t.Run("recover redelivers each delivery whose latest attempt was dead-lettered", func(t *testing.T) {
		l := newLog(t)
		since := base
		var all []delivery.Attempt
		add := func(webhook, id string, minute int, outcomes ...delivery.Outcome) {
			for i, o := range outcomes {
				all = append(all, logAttempt("tenant-a", webhook, id, i+1, since.Add(time.Duration(minute)*time.Minute+time.Duration(i)*time.Second), o))
			}
		}
		add("wh_1", "d-dead", 10, delivery.OutcomeRetrying, delivery.OutcomeDeadLettered)
		add("wh_1", "d-twice", 11, delivery.OutcomeDeadLettered)
		add("wh_1", "d-twice", 12, delivery.OutcomeDeadLettered) // a redelivery that failed again
		add("wh_1", "d-recovered", 13, delivery.OutcomeDeadLettered)
		add("wh_1", "d-recovered", 14, delivery.OutcomeSucceeded)
		add("wh_1", "d-ok", 15, delivery.OutcomeSucceeded)
		add("wh_1", "d-retrying", 16, delivery.OutcomeRetrying)
		add("wh_1", "d-before", -5, delivery.OutcomeDeadLettered)
		add("wh_2", "d-elsewhere", 10, delivery.OutcomeDeadLettered)
		for i := range 105 { // more than one page of the webhook's dead-lettered attempts
			add("wh_1", fmt.Sprintf("d-bulk-%03d", i), 20+i, delivery.OutcomeDeadLettered)
		}
		record(ctx, t, l, all)

		q := &recordingQueue{}
		r := &delivery.Redeliverer{Log: l, Queue: q, Now: func() time.Time { return base.Add(24 * time.Hour) }}
		queued, err := r.Recover(ctx, "tenant-a", "wh_1", since, 0)
		if err != nil || queued != 107 {
			t.Fatalf("recover: queued %d, %v; want 107", queued, err)
		}
		jobs := q.Jobs()
		byID := map[string]delivery.Job{}
		for _, j := range jobs {
			byID[j.ID] = j
		}
		if len(byID) != len(jobs) || len(jobs) != 107 {
			t.Fatalf("%d jobs for %d deliveries: a delivery was queued twice", len(jobs), len(byID))
		}
		for _, id := range []string{"d-dead", "d-twice", "d-bulk-000", "d-bulk-104"} {
			j, ok := byID[id]
			if !ok {
				t.Fatalf("%s not redelivered", id)
			}
			if j.TenantID != "tenant-a" || j.WebhookID != "wh_1" || j.EventType != "task_submitted_event" ||
				j.Attempts != 0 || string(j.Payload) != string(logAttempt("", "", id, 0, base, "").Payload) {
				t.Fatalf("job of %s: %+v", id, j)
			}
		}
		for _, id := range []string{"d-recovered", "d-ok", "d-retrying", "d-before", "d-elsewhere"} {
			if _, ok := byID[id]; ok {
				t.Fatalf("%s redelivered", id)
			}
		}
		for _, b := range q.Batches() {
			if len(b) > delivery.MaxAttemptPage {
				t.Fatalf("one enqueue of %d jobs", len(b))
			}
		}

		q = &recordingQueue{}
		r.Queue = q
		if queued, err := r.Recover(ctx, "tenant-a", "wh_1", since, 5); err != nil || queued != 5 || len(q.Jobs()) != 5 {
			t.Fatalf("recover with limit 5: queued %d (%d jobs), %v", queued, len(q.Jobs()), err)
		}
		if _, err := r.Redeliver(ctx, "tenant-b", "d-dead"); !errors.Is(err, delivery.ErrDeliveryNotFound) {
			t.Fatalf("redeliver another tenant's delivery: %v, want ErrDeliveryNotFound", err)
		}
	})
}

// logAttempt returns an attempt whose payload names its delivery.
func logAttempt(tenant, webhook, deliveryID string, n int, at time.Time, outcome delivery.Outcome) delivery.Attempt {
	a := delivery.Attempt{
		TenantID: tenant, WebhookID: webhook, DeliveryID: deliveryID, EventType: "task_submitted_event",
		Number: n, At: at, StatusCode: 200, Latency: 12 * time.Millisecond, Outcome: outcome,
		Payload: []byte(fmt.Sprintf(`{"uid":%q,"version":1}`, deliveryID)),
	}
	if outcome != delivery.OutcomeSucceeded {
		a.StatusCode, a.ErrorClass, a.ResponseSnippet = 503, delivery.ClassHTTP5xx, "busy"
	}
	if outcome == delivery.OutcomeRetrying {
		a.NextAttemptAt = at.Add(5 * time.Minute)
	}
	return a
}

func record(ctx context.Context, t *testing.T, l AttemptLog, attempts []delivery.Attempt) {
	t.Helper()
	if err := l.RecordAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}
}

// readAll follows a webhook's pages to the end, checking that every page with a cursor is
// full and that the last one has none.
func readAll(ctx context.Context, t *testing.T, l AttemptQueryLog, tenant, webhook string, q delivery.AttemptQuery, size int) []delivery.Attempt {
	t.Helper()
	var out []delivery.Attempt
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages: the cursor does not advance")
		}
		page, err := l.AttemptsOfWebhook(ctx, tenant, webhook, q)
		if err != nil {
			t.Fatalf("page %d of %s/%s: %v", pages+1, tenant, webhook, err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			if len(page.Items) > size {
				t.Fatalf("last page of %d items, page size %d", len(page.Items), size)
			}
			return out
		}
		if len(page.Items) != size {
			t.Fatalf("page %d has %d items and a cursor, want %d", pages+1, len(page.Items), size)
		}
		q.Cursor = page.NextCursor
	}
}

// newestFirst sorts as both stores order a webhook's log: time, then delivery, then attempt,
// all descending.
func newestFirst(attempts []delivery.Attempt) []delivery.Attempt {
	out := append([]delivery.Attempt(nil), attempts...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.At.Equal(b.At) {
			return a.At.After(b.At)
		}
		if a.DeliveryID != b.DeliveryID {
			return a.DeliveryID > b.DeliveryID
		}
		return a.Number > b.Number
	})
	return out
}

func only(attempts []delivery.Attempt, o delivery.Outcome) []delivery.Attempt {
	var out []delivery.Attempt
	for _, a := range attempts {
		if a.Outcome == o {
			out = append(out, a)
		}
	}
	return out
}

// shuffled interleaves deterministically, so a store cannot pass by keeping write order.
func shuffled(attempts []delivery.Attempt) []delivery.Attempt {
	out := make([]delivery.Attempt, 0, len(attempts))
	for stride := range 7 {
		for i := stride; i < len(attempts); i += 7 {
			out = append(out, attempts[len(attempts)-1-i])
		}
	}
	return out
}

func keys(attempts []delivery.Attempt) string {
	var b strings.Builder
	for _, a := range attempts {
		fmt.Fprintf(&b, "%s#%d@%s ", a.DeliveryID, a.Number, a.At.UTC().Format("15:04:05"))
	}
	return b.String()
}

func payloadOf(attempts []delivery.Attempt) []byte {
	if len(attempts) == 0 {
		return nil
	}
	return attempts[0].Payload
}

// recordingQueue is a delivery.JobQueue that keeps what it is given.
type recordingQueue struct {
	mu      sync.Mutex
	batches [][]delivery.Job
}

// Enqueue implements delivery.JobQueue.
func (q *recordingQueue) Enqueue(_ context.Context, jobs []delivery.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.batches = append(q.batches, append([]delivery.Job(nil), jobs...))
	return nil
}

// Batches returns each Enqueue's jobs.
func (q *recordingQueue) Batches() [][]delivery.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([][]delivery.Job(nil), q.batches...)
}

// Jobs returns every job enqueued, in order.
func (q *recordingQueue) Jobs() []delivery.Job {
	var out []delivery.Job
	for _, b := range q.Batches() {
		out = append(out, b...)
	}
	return out
}
