package contract_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

func TestDynamoRateLimiter(t *testing.T) {
	contract.TestRateLimiter(t, func(t *testing.T) delivery.RateLimiter {
		b := awsfixture.New(t, awsfixture.Options{})
		return dynamo.NewRateLimiter(b.Admin().DynamoDB, b.AttemptsTable)
	})
}

func TestSqliteRateLimiter(t *testing.T) {
	contract.TestRateLimiter(t, func(t *testing.T) delivery.RateLimiter { return newSqliteRateLimiter(t) })
}

func newSqliteRateLimiter(t *testing.T) *sqlitestore.RateLimiter {
	t.Helper()
	l, err := sqlitestore.NewRateLimiter(context.Background(), newSqliteDB(t))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSqliteRateSlotsExpireWhenIdle(t *testing.T) {
	ctx := context.Background()
	l := newSqliteRateLimiter(t)
	now := time.Now()
	r := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_1"}
	if _, err := l.Reserve(ctx, r, 10, time.Second, now); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Expire(ctx, now.Add(24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("expired %d rows (%v) while the last slot is under a day old", n, err)
	}
	if n, err := l.Expire(ctx, now.Add(25*time.Hour)); err != nil || n != 1 {
		t.Fatalf("expired %d rows (%v) a day after the last slot, want 1", n, err)
	}
}
