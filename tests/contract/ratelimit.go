package contract

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// TestRateLimiter runs the rate-limit slot contract against a fresh limiter per subtest.
func TestRateLimiter(t *testing.T, newLimiter func(t *testing.T) delivery.RateLimiter) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	const step = 100 * time.Millisecond
	reserve := func(t *testing.T, l delivery.RateLimiter, r delivery.EndpointRef, n int, at time.Time) time.Time {
		t.Helper()
		first, err := l.Reserve(ctx, r, n, step, at)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}

	t.Run("slots follow one another and an idle webhook starts at now", func(t *testing.T) {
		l := newLimiter(t)
		r := ref("tenant-a", "wh_1")
		if got := reserve(t, l, r, 3, now); !got.Equal(now) {
			t.Fatalf("first reservation starts at %v, want now %v", got, now)
		}
		if got := reserve(t, l, r, 2, now.Add(50*time.Millisecond)); !got.Equal(now.Add(3 * step)) {
			t.Fatalf("second starts at %v, want %v", got.Sub(now), 3*step)
		}
		later := now.Add(time.Second)
		if got := reserve(t, l, r, 1, later); !got.Equal(later) {
			t.Fatalf("after the slots ran out: %v, want %v", got.Sub(now), time.Second)
		}
	})

	t.Run("webhooks and tenants have their own slots", func(t *testing.T) {
		l := newLimiter(t)
		reserve(t, l, ref("tenant-a", "wh_1"), 10, now)
		for _, r := range []delivery.EndpointRef{ref("tenant-b", "wh_1"), ref("tenant-a", "wh_2")} {
			if got := reserve(t, l, r, 1, now); !got.Equal(now) {
				t.Fatalf("%v waits behind tenant-a's wh_1: %v", r, got.Sub(now))
			}
		}
	})

	t.Run("concurrent reservations never share a slot", func(t *testing.T) {
		l := newLimiter(t)
		r := ref("tenant-a", "wh_1")
		var mu sync.Mutex
		var slots []time.Duration
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				first := reserve(t, l, r, 5, now)
				mu.Lock()
				defer mu.Unlock()
				for i := range 5 {
					slots = append(slots, first.Add(time.Duration(i)*step).Sub(now))
				}
			})
		}
		wg.Wait()
		slices.Sort(slots)
		for i, s := range slots {
			if s != time.Duration(i)*step {
				t.Fatalf("slot %d is at %v, want %v: %v", i, s, time.Duration(i)*step, slots)
			}
		}
	})
}
