package sqlitestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// BenchmarkRecordAttempts is the delivery path's write: one batch of 10 attempts (an SQS-sized
// batch of jobs) per commit. Under synchronous=FULL, the default, the figure is mostly the
// commit's fsync, so it depends on the disk more than on this code; NORMAL shows the rest.
func BenchmarkRecordAttempts(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{Synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			s := newStore(b, db, Options{})
			const perBatch = 10
			batch := make([]delivery.Attempt, perBatch)
			n := 0
			for b.Loop() {
				for i := range batch {
					batch[i] = attempt("tenant-a", "wh_1", fmt.Sprintf("d-%d", n), i+1, base.Add(time.Duration(n)*time.Millisecond))
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

// BenchmarkEndpoints is the delivery path's read when its cache is cold: the endpoints of a
// batch of 10 jobs, among 1,000 webhooks, in one query.
func BenchmarkEndpoints(b *testing.B) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := newStore(b, db, Options{})
	var refs []delivery.EndpointRef
	for i := range 1000 {
		w := stagehooks.Webhook{
			ID: fmt.Sprintf("wh_%d", i), TenantID: fmt.Sprintf("tenant-%d", i%50), OwnerID: "user-1", ProjectHash: "proj-1",
			StageUUID: "stage-1", StageType: stagehooks.StageAnnotate, URL: fmt.Sprintf("https://a.example/hook/%d", i),
			Secrets: []string{"whsec_x"}, Enabled: true, CreatedAt: base, UpdatedAt: base,
		}
		if err := s.CreateWebhook(ctx, w); err != nil {
			b.Fatal(err)
		}
		if i%100 == 0 {
			refs = append(refs, delivery.EndpointRef{TenantID: w.TenantID, WebhookID: w.ID})
		}
	}
	for b.Loop() {
		if eps, err := s.Endpoints(ctx, refs); err != nil || len(eps) != len(refs) {
			b.Fatalf("%d endpoints, %v", len(eps), err)
		}
	}
}

// BenchmarkTargetsForStage is the router's read: one stage with 10 webhooks in a table of
// 10,000 webhooks over 1,000 stages.
func BenchmarkTargetsForStage(b *testing.B) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := newStore(b, db, Options{})
	const stages, perStage = 1000, 10
	for st := range stages {
		for i := range perStage {
			w := stagehooks.Webhook{
				ID: fmt.Sprintf("wh_%d_%d", st, i), TenantID: fmt.Sprintf("tenant-%d", st%50), OwnerID: "user-1",
				ProjectHash: fmt.Sprintf("proj-%d", st/4), StageUUID: fmt.Sprintf("stage-%d", st), StageType: stagehooks.StageAnnotate,
				URL: fmt.Sprintf("https://a.example/hook/%d", i), Secrets: []string{"whsec_x"}, Enabled: true, CreatedAt: base, UpdatedAt: base,
			}
			if err := s.CreateWebhook(ctx, w); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := 0
	for b.Loop() {
		st := n % stages
		n++
		targets, err := s.TargetsForStage(ctx, fmt.Sprintf("tenant-%d", st%50), fmt.Sprintf("proj-%d", st/4), fmt.Sprintf("stage-%d", st))
		if err != nil || len(targets) != perStage {
			b.Fatalf("%d targets, %v", len(targets), err)
		}
	}
}
