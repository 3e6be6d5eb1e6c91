package sqlitestore

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/httpapi"
)

// Expired Idempotency-Key records are deleted, as DynamoDB's TTL deletes them on AWS; live
// ones stay.
func TestExpireDeletesOnlyExpiredKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := NewIdempotency(ctx, openDB(t, t.TempDir()), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	for _, k := range []string{"old-1", "old-2"} {
		if _, _, err := s.Begin(ctx, "t", k, "fp"); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(50 * time.Minute)
	if _, _, err := s.Begin(ctx, "t", "new", "fp"); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, "t", "new", httpapi.StoredResponse{Fingerprint: "fp", Done: true, Status: 201}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(11 * time.Minute)
	if n, err := s.Expire(ctx); err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want the 2 keys over an hour old", n, err)
	}
	if prior, claimed, err := s.Begin(ctx, "t", "new", "fp"); err != nil || claimed || !prior.Done {
		t.Fatalf("the live key after Expire: %+v claimed %v, %v", prior, claimed, err)
	}
}
