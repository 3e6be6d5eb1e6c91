package dynamo_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/tests/awsfixture"
)

// The contract suite holds limits of one item to exact slots; a limit over 500 a second is
// split over several items, and a burst of two seconds' worth at once must still stay within
// 10 % of the limit in every one-second window, and take the two seconds.
func TestAHighRateLimitSplitOverItemsHoldsWithinTenPercent(t *testing.T) {
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	l := dynamo.NewRateLimiter(b.Admin().DynamoDB, b.AttemptsTable)
	const limit, batch, batches = 5000, 10, 1000
	step := time.Second / limit
	ref := delivery.EndpointRef{TenantID: "tenant-a", WebhookID: "wh_hot"}
	now := time.Now()

	var mu sync.Mutex
	var slots []time.Time
	var wg sync.WaitGroup
	work := make(chan struct{}, batches)
	for range batches {
		work <- struct{}{}
	}
	close(work)
	for range 8 {
		wg.Go(func() {
			for range work {
				first, err := l.Reserve(ctx, ref, batch, step, now)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i := range batch {
					slots = append(slots, first.Add(time.Duration(i)*step))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(slots) != batch*batches {
		t.Fatalf("%d slots handed out, want %d", len(slots), batch*batches)
	}
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	busiest, end := 0, 0
	for start := range slots {
		for end < len(slots) && slots[end].Sub(slots[start]) < time.Second {
			end++
		}
		busiest = max(busiest, end-start)
	}
	span := slots[len(slots)-1].Sub(slots[0])
	t.Logf("%d slots over %v; the busiest second holds %d (limit %d)", len(slots), span, busiest, limit)
	if busiest > limit*11/10 {
		t.Errorf("a one-second window holds %d slots, over the limit %d by more than 10 %%", busiest, limit)
	}
	if span < 1800*time.Millisecond {
		t.Errorf("two seconds' worth of slots span only %v", span)
	}
}
