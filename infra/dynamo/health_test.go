package dynamo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// The contract suite covers streaks as every store keeps them; this test covers what keeps a
// hot webhook's item inside its partition's share: one process writes a streak at most once a
// second, and ends it once.
func TestAHotWebhooksStreakIsWrittenOnceASecondAndEndedOnce(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	var updates atomic.Int64
	db := dynamodb.New(b.Admin().DynamoDB.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("countUpdates",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if _, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
						updates.Add(1)
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	store := dynamo.NewWebhookStore(db, b.WebhooksTable)
	if err := store.CreateWebhook(ctx, contract.NewWebhook(t, "tenant-a", "wh_hot", "p", "s", stagehooks.StageAnnotate, "https://hot.example/")); err != nil {
		t.Fatal(err)
	}
	ref := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_hot"}
	since := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

	// Scenario: 200 failures at once, then the webhook disabled; later a fresh streak ended by
	// 200 successes that all read it.
	start := time.Now()
	for i := range 200 {
		streak, err := store.AddFailure(ctx, ref, since.Add(time.Duration(i)*time.Millisecond))
		if err != nil || !streak.Since.Equal(since) || streak.Failures != i+1 {
			t.Fatalf("failure %d: %+v, %v; want since %v with %d failures", i+1, streak, err, since, i+1)
		}
	}
	// One write, and one more for every second a slow machine took over them.
	elapsed := time.Since(start)
	if limit := int64(elapsed/time.Second) + 1; updates.Load() > limit {
		t.Fatalf("200 failures within %v took %d updates, want at most %d", elapsed, updates.Load(), limit)
	}
	disabled, ok, err := store.DisableFailing(ctx, ref, since, "failing")
	if err != nil || !ok || disabled.Failures != 200 {
		t.Fatalf("disabled %+v, ok %v, %v; want all 200 failures on it", disabled, ok, err)
	}

	hook, err := store.GetWebhook(ctx, "tenant-a", "wh_hot")
	if err != nil {
		t.Fatal(err)
	}
	hook.Enabled = true
	if _, err := store.UpdateWebhook(ctx, hook, hook.Version); err != nil {
		t.Fatal(err)
	}
	later := since.Add(time.Hour)
	if streak, err := store.AddFailure(ctx, ref, later); err != nil || !streak.Since.Equal(later) || streak.Failures != 1 {
		t.Fatalf("the first failure after enabling: %+v, %v", streak, err)
	}
	before := updates.Load()
	for range 200 {
		if err := store.EndStreak(ctx, ref, later); err != nil {
			t.Fatal(err)
		}
	}
	if n := updates.Load() - before; n != 1 {
		t.Fatalf("200 successes ended the streak with %d updates, want 1", n)
	}
	eps, err := store.Endpoints(ctx, []delivery.EndpointRef{ref})
	if err != nil || !eps[ref].FailingSince.IsZero() {
		t.Fatalf("after the successes the endpoint is failing since %v, %v", eps[ref].FailingSince, err)
	}
}
