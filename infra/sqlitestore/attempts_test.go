package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// The contract suite (tests/contract) covers the delivery log's queries on both stores; these
// tests cover what only the embedded store has: its migration, its BLOBs, its query plans.

// preReleaseAttempts is the attempts table as the first release created it, without payloads.
const preReleaseAttempts = `CREATE TABLE attempts (
	tenant_id TEXT NOT NULL, webhook_id TEXT NOT NULL, at TEXT NOT NULL, delivery_id TEXT NOT NULL,
	attempt INTEGER NOT NULL, event_type TEXT NOT NULL, status_code INTEGER NOT NULL, latency_ms INTEGER NOT NULL,
	error_class TEXT NOT NULL DEFAULT '', response_snippet TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL,
	next_attempt_at TEXT, expires_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, webhook_id, at, delivery_id, attempt)
) STRICT`

func TestAttemptsFromBeforePayloadsReadBackWithout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	// Scenario: a database written by a Herald that logged no payloads; this one opens it,
	// reads the old attempt and logs new ones with their payloads.
	if _, err := db.Exec(preReleaseAttempts); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO attempts VALUES ('t', 'w', '2026-11-28T12:00:00.000000000Z', 'd-old', 1,
		'task_submitted_event', 200, 12, '', '', 'succeeded', NULL, 1800000000)`); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, db, Options{})
	old, err := s.AttemptsOfDelivery(ctx, "t", "d-old")
	if err != nil || len(old) != 1 || old[0].Payload != nil || old[0].Outcome != delivery.OutcomeSucceeded {
		t.Fatalf("old attempt: %+v, %v", old, err)
	}
	a := attempt("t", "w", "d-new", 1, base.Add(time.Minute))
	a.Payload = []byte(`{"uid":"d-new"}`)
	if err := s.RecordAttempts(ctx, []delivery.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	page, err := s.AttemptsOfWebhook(ctx, "t", "w", delivery.AttemptQuery{})
	if err != nil || len(page.Items) != 2 || string(page.Items[0].Payload) != `{"uid":"d-new"}` || page.Items[1].Payload != nil {
		t.Fatalf("webhook's attempts: %+v, %v", page.Items, err)
	}

	// Migrating again, as every process does once, changes nothing; nor does a second
	// process on the same file.
	if err := migrateAttempts(ctx, db); err != nil {
		t.Fatal(err)
	}
	again := newStore(t, openDB(t, dir), Options{})
	if got, err := again.AttemptsOfDelivery(ctx, "t", "d-new"); err != nil || len(got) != 1 || string(got[0].Payload) != `{"uid":"d-new"}` {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

func TestTwoProcessesAddThePayloadColumnOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	stores := []*Store{newStore(t, openDB(t, dir), Options{}), newStore(t, openDB(t, dir), Options{})}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() {
			a := attempt("t", "w", fmt.Sprintf("d-%d", i), 1, base)
			a.Payload = []byte(`{}`)
			errs[i] = s.RecordAttempts(ctx, []delivery.Attempt{a})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
}

// Payloads are BLOBs: whatever bytes the job carried come back, even ones no JSON or UTF-8
// column would keep.
func TestPayloadsAreKeptAsBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, openDB(t, t.TempDir()), Options{})
	a := attempt("t", "w", "d-1", 1, base)
	a.Payload = []byte("{\"s\":\"\xff\xfe\x00 'quoted' \\u0000\"}")
	if err := s.RecordAttempts(ctx, []delivery.Attempt{a}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AttemptsOfDelivery(ctx, "t", "d-1")
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Payload, a.Payload) {
		t.Fatalf("payload %q, %v; want %q", payloadOf(got), err, a.Payload)
	}
}

func payloadOf(attempts []delivery.Attempt) []byte {
	if len(attempts) == 0 {
		return nil
	}
	return attempts[0].Payload
}

// A webhook's page must stay a range read of the primary key in its own order, whatever the
// query holds: a sort or a scan would cost every attempt of the webhook's 30 days.
func TestWebhookPagesReadThePrimaryKeyInOrder(t *testing.T) {
	t.Parallel()
	db := openDB(t, t.TempDir())
	s := newStore(t, db, Options{})
	after := &delivery.AttemptKey{At: base, DeliveryID: "d", Number: 1}
	for _, tc := range []struct {
		q     delivery.AttemptQuery
		after *delivery.AttemptKey
		want  string
	}{
		{delivery.AttemptQuery{}, nil, "(tenant_id=? AND webhook_id=?)"},
		{delivery.AttemptQuery{Since: base}, nil, "(tenant_id=? AND webhook_id=? AND at>?)"},
		{delivery.AttemptQuery{Outcome: delivery.OutcomeDeadLettered}, after, "(tenant_id=? AND webhook_id=? AND (at,delivery_id,attempt)<(?,?,?))"},
		{delivery.AttemptQuery{Since: base.Add(-time.Hour), Outcome: delivery.OutcomeSucceeded}, after,
			"(tenant_id=? AND webhook_id=? AND at>? AND (at,delivery_id,attempt)<(?,?,?))"},
	} {
		query, args, err := attemptsOfWebhookQuery("t", "w", tc.q, tc.after, 21)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(t, s, query, args...)
		if !strings.Contains(plan, "SEARCH attempts USING INDEX sqlite_autoindex_attempts_1 "+tc.want) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan of %+v after %v:\n%s\nwant a search of the primary key %s and no sort", tc.q, tc.after, plan, tc.want)
		}
	}
	if plan := explain(t, s, attemptsOfDeliveryByTimeSQL, "t", "d"); !strings.Contains(plan, "SEARCH attempts USING INDEX attempts_by_delivery (tenant_id=? AND delivery_id=?)") {
		t.Errorf("plan of a delivery's attempts:\n%s", plan)
	}
}

func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "\n")
}

// BenchmarkRecordAttemptsWithPayloads is BenchmarkRecordAttempts with the payload every attempt
// now carries (600 bytes, a stage-transition payload's size).
func BenchmarkRecordAttemptsWithPayloads(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{Synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s := newStore(b, db, Options{})
			payload := []byte(`{"uid":"` + strings.Repeat("x", 590) + `"}`)
			const perBatch = 10
			batch := make([]delivery.Attempt, perBatch)
			n := 0
			for b.Loop() {
				for i := range batch {
					batch[i] = attempt("tenant-a", "wh_1", fmt.Sprintf("d-%d", n), i+1, base.Add(time.Duration(n)*time.Millisecond))
					batch[i].Payload = payload
				}
				n++
				if err := s.RecordAttempts(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*perBatch), "ns/attempt")
		})
	}
}
