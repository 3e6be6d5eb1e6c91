package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/contract"
)

// The delivery semantics of the e2e tests on the stand-ins, on the embedded default: one event
// fans out to ten webhooks of one stage (one batch of ten, attempted concurrently) whose
// receivers succeed, fail for good, answer 410, or answer 429 with a Retry-After longer than
// the schedule's wait. Schedule 1s,1s: three attempts.
func TestEmbeddedRetriesGoneRetryAfterAndDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := startEmbedded(t, map[string]string{"HERALD_RETRY_SCHEDULE": "1s,1s"})

	var mu sync.Mutex
	var throttledAt []time.Time
	receivers := map[string]*receiver{
		"wh_fail": newReceiver(t, func(int) (int, http.Header) { return 500, nil }),
		"wh_gone": newReceiver(t, func(int) (int, http.Header) { return 410, nil }),
		"wh_throttled": newReceiver(t, func(n int) (int, http.Header) {
			mu.Lock()
			throttledAt = append(throttledAt, time.Now())
			mu.Unlock()
			if n == 1 {
				return 429, http.Header{"Retry-After": {"3"}}
			}
			return 200, nil
		}),
	}
	for i := range 7 {
		receivers[fmt.Sprintf("wh_ok_%d", i)] = newReceiver(t, nil)
	}
	for id, r := range receivers {
		wh := contract.NewWebhook(t, sampleTenant, id, sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, r.url())
		if err := h.Store.CreateWebhook(ctx, wh); err != nil {
			t.Fatal(err)
		}
		r.secret = wh.Secrets[0]
	}
	putDetails(t, h, sampleDetail(t))

	deadline := time.Now().Add(30 * time.Second)
	for h.Counts.Get(telemetry.DeadLettered, delivery.ReasonAttemptsExhausted) < 1 || receivers["wh_throttled"].count() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not done in 30 s: dead-lettered %d, throttled receiver hit %d times",
				h.Counts.Get(telemetry.DeadLettered, delivery.ReasonAttemptsExhausted), receivers["wh_throttled"].count())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // nothing more may arrive

	for id, r := range receivers {
		got := r.requests()
		want := map[string]int{"wh_fail": 3, "wh_gone": 1, "wh_throttled": 2}[id]
		if want == 0 {
			want = 1
		}
		if len(got) != want {
			t.Errorf("%s received %d requests, want %d", id, len(got), want)
			continue
		}
		for _, g := range got {
			if g.verifyErr != nil || g.header.Get(signing.HeaderID) != got[0].header.Get(signing.HeaderID) {
				t.Errorf("%s: a request failed verification or changed its webhook-id: %v", id, g.verifyErr)
			}
		}
	}
	// The receiver's Retry-After of 3 s wins over the schedule's 1 s: a floor, not a cap.
	if gap := throttledAt[1].Sub(throttledAt[0]); gap < 3*time.Second {
		t.Errorf("second attempt %s after a Retry-After of 3 s", gap)
	}
	if wh, err := h.Store.GetWebhook(ctx, sampleTenant, "wh_gone"); err != nil || wh.Enabled {
		t.Errorf("after a 410 the webhook is %+v, %v; want it disabled", wh, err)
	}
	id := receivers["wh_fail"].requests()[0].header.Get(signing.HeaderID)
	attempts, err := h.Store.AttemptsOfDelivery(ctx, sampleTenant, id)
	if err != nil || len(attempts) != 3 {
		t.Fatalf("attempts of the failing delivery: %+v, %v", attempts, err)
	}
	for i, a := range attempts {
		want := delivery.OutcomeRetrying
		if i == 2 {
			want = delivery.OutcomeDeadLettered
		}
		if a.Number != i+1 || a.Outcome != want || a.StatusCode != 500 {
			t.Errorf("attempt %d: %+v, want number %d, %s, 500", i, a, i+1, want)
		}
	}
}
