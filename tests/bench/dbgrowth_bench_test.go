package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/delivery"
)

// growthDeliveries is how many deliveries BenchmarkDatabaseGrowth pushes through one
// database. Override with HERALD_GROWTH_DELIVERIES for a quicker look.
const growthDeliveries = 1_000_000

// BenchmarkDatabaseGrowth pushes a million deliveries through the embedded runtime's storage
// as the delivery path does, in batches of ten (enqueue, receive, record the attempts, delete),
// on a simulated clock advancing one second per delivery (86,400 a day, 11.6 days in all), with
// the runner's housekeeping every 10,000 deliveries: expired attempts swept (retention 1 day
// here, to reach the steady state within the run), expired messages dropped, pages reclaimed.
// It reports the file size after the first retention period and at the end, and their ratio:
// about 1.0 means the file stays the size of what is kept, whatever went through it. Run with
// -benchtime 1x.
func BenchmarkDatabaseGrowth(b *testing.B) {
	total := growthDeliveries
	if v := os.Getenv("HERALD_GROWTH_DELIVERIES"); v != "" {
		fmt.Sscan(v, &total)
	}
	const retention = 24 * time.Hour
	ctx := context.Background()
	for b.Loop() {
		dir := b.TempDir()
		db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{Synchronous: "NORMAL"})
		if err != nil {
			b.Fatal(err)
		}
		clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		now := func() time.Time { return clock }
		store, err := sqlitestore.New(ctx, db, sqlitestore.Options{AttemptRetention: retention})
		if err != nil {
			b.Fatal(err)
		}
		q, err := localqueue.New(ctx, db, "DeliveryQueue", localqueue.Options{Now: now, Retention: 4 * 24 * time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		payload := []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1,"source":"Encord","event_type":"task_submitted_event","event_created_timestamp":"2024-03-25T15:18:55.406529+00:00","payload":{"project_hash":"751a3a3e-46b6-4aad-b0b8-19b169f91266","data_hashes":["f0b012de-5aea-4457-b515-936b0c185771"],"label_hashes":["fdb9a21f-d9a7-48b5-9dac-dfe3e0e2c57f"]}}`)
		size := func() float64 {
			info, err := os.Stat(filepath.Join(dir, sqlitedb.FileName))
			if err != nil {
				b.Fatal(err)
			}
			return float64(info.Size())
		}
		var afterFirstDay, peak float64
		for n := 0; n < total; n += 10 {
			jobs := make([]delivery.Job, 10)
			for i := range jobs {
				jobs[i] = delivery.Job{ID: fmt.Sprintf("d-%09d", n+i), TenantID: "acme", WebhookID: fmt.Sprintf("wh_%d", (n+i)%50), EventType: "task_submitted_event", Payload: payload}
			}
			if err := q.Enqueue(ctx, jobs); err != nil {
				b.Fatal(err)
			}
			msgs, err := q.Receive(ctx, 10, 0)
			if err != nil || len(msgs) != 10 {
				b.Fatalf("received %d of 10: %v", len(msgs), err)
			}
			attempts := make([]delivery.Attempt, len(jobs))
			for i, j := range jobs {
				attempts[i] = delivery.Attempt{TenantID: j.TenantID, WebhookID: j.WebhookID, DeliveryID: j.ID, EventType: j.EventType,
					Number: 1, At: clock, StatusCode: 200, Latency: 3 * time.Millisecond, Outcome: delivery.OutcomeSucceeded, Payload: j.Payload}
			}
			if err := store.RecordAttempts(ctx, attempts); err != nil {
				b.Fatal(err)
			}
			if err := q.Delete(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			clock = clock.Add(10 * time.Second)
			if (n+10)%10_000 == 0 {
				if _, err := store.Sweep(ctx, clock); err != nil {
					b.Fatal(err)
				}
				if _, err := q.Expire(ctx); err != nil {
					b.Fatal(err)
				}
				for range 4 {
					if err := sqlitedb.Reclaim(ctx, db); err != nil {
						b.Fatal(err)
					}
				}
				s := size()
				peak = max(peak, s)
				if afterFirstDay == 0 && clock.Sub(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) >= retention+time.Hour {
					afterFirstDay = s
				}
			}
		}
		final := size()
		db.Close()
		b.ReportMetric(float64(total), "deliveries")
		b.ReportMetric(afterFirstDay/(1<<20), "MiB-after-1-retention")
		b.ReportMetric(peak/(1<<20), "MiB-peak")
		b.ReportMetric(final/(1<<20), "MiB-final")
		b.ReportMetric(final/afterFirstDay, "final/after-1-retention")
	}
}
