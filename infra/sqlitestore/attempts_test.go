package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// The contract suite (tests/contract) covers the delivery log's queries on both stores; these
// tests cover what only the embedded store has: its BLOBs and its query plans.

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
	plan, err := sqlitedb.QueryPlan(context.Background(), s.db, query, args...)
	if err != nil {
		t.Fatal(err)
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
