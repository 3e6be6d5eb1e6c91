package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/contract"
)

// The rate-limit burst: ten times a webhook's limit arrives at once (a second's worth for
// each of ten seconds, all at the start). Every delivery must arrive once, on its first
// attempt (waiting spends none), and no one-second window may hold more than 10 % over the
// limit, although several pollers deliver at once.
const (
	burstLimit  = 20
	burstEvents = 10 * burstLimit
)

func TestRateLimitHoldsAcrossPollersOnTheStandIns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true, cacheTTL: 10 * time.Second})
	r := newReceiver(t, nil)
	hook := contract.NewWebhook(t, sampleTenant, "wh_limited", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, r.url())
	hook.RateLimitPerSecond = burstLimit
	if err := w.store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	r.secret = hook.Secrets[0]
	for i := range burstEvents {
		if err := w.publishTransition(t, i); err != nil {
			t.Fatal(err)
		}
	}
	// Eight event source pollers, as Lambda runs concurrent invocations: their batches take
	// slots up to four seconds ahead, so some wait in the queue rather than in the process.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil && r.count() < burstEvents {
				if _, err := w.poller.PollOnce(ctx); err != nil && ctx.Err() == nil {
					t.Logf("poll: %v", err)
				}
			}
		})
	}
	wg.Wait()
	checkBurst(t, r, w.counts)
	if w.counts.Total(telemetry.RateLimited) == 0 {
		t.Error("no delivery went back to the queue to wait for its slot")
	}
	t.Logf("AWS requests of the delivery function: %s; poller: %s", w.deliveryRequest, w.pollerRequests)
}

func TestRateLimitHoldsOnTheEmbeddedDefault(t *testing.T) {
	t.Parallel()
	h := startEmbedded(t, nil)
	r := newReceiver(t, nil)
	hook := contract.NewWebhook(t, sampleTenant, "wh_limited", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, r.url())
	hook.RateLimitPerSecond = burstLimit
	if err := h.Store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	r.secret = hook.Secrets[0]
	detail := sampleDetail(t)
	var details []string
	for i := range burstEvents {
		details = append(details, strings.Replace(detail, "2024-03-25T15:18:55.406529+00:00", fmt.Sprintf("2024-03-25T15:18:55.%06d+00:00", i), 1))
		if len(details) == 10 {
			putDetails(t, h, details...)
			details = nil
		}
	}
	waitUntil(t, 60*time.Second, "every delivery", func() bool { return r.count() >= burstEvents })
	time.Sleep(500 * time.Millisecond)
	checkBurst(t, r, h.Counts)
}

// checkBurst asserts every delivery arrived once, verified, on its first attempt, and that
// no one-second window held more than 10 % over the limit.
func checkBurst(t *testing.T, r *receiver, counts *telemetry.Memory) {
	t.Helper()
	got := r.requests()
	ids := map[string]bool{}
	var at []time.Time
	for _, g := range got {
		if g.verifyErr != nil {
			t.Fatalf("a delivery fails verification: %v", g.verifyErr)
		}
		ids[g.header.Get(signing.HeaderID)] = true
		at = append(at, g.at)
	}
	if len(got) != burstEvents || len(ids) != burstEvents {
		t.Fatalf("%d requests with %d webhook-ids, want %d of each", len(got), len(ids), burstEvents)
	}
	if n := counts.Total(telemetry.Attempts); n != burstEvents {
		t.Fatalf("%d attempts for %d deliveries: waiting spent attempts", n, burstEvents)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	peak, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	span := at[len(at)-1].Sub(at[0])
	t.Logf("limit %d/s: %d deliveries over %s; busiest one-second window %d (%.1f %% of the limit); %d sent back to wait",
		burstLimit, len(at), span.Round(time.Millisecond), peak, 100*float64(peak)/burstLimit, counts.Total(telemetry.RateLimited))
	if float64(peak) > 1.1*burstLimit {
		t.Fatalf("a one-second window held %d deliveries, over %d/s by more than 10 %%", peak, burstLimit)
	}
}
