package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/contract"
)

// A graceful stop (what SIGTERM does) while a delivery is in flight: the attempt finishes,
// is recorded as the success it was, and the next start does not send it again.
func TestEmbeddedStopLetsInFlightDeliveriesFinish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	inFlight := make(chan struct{}, 1)
	r := newReceiver(t, func(n int) (int, http.Header) {
		if n == 1 {
			inFlight <- struct{}{}
			time.Sleep(2 * time.Second) // the stop lands meanwhile
		}
		return 200, nil
	})
	h := startEmbeddedIn(t, dir, nil)
	wh := contract.NewWebhook(t, sampleTenant, "wh_annotate", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, r.url())
	if err := h.Store.CreateWebhook(ctx, wh); err != nil {
		t.Fatal(err)
	}
	r.secret = wh.Secrets[0]
	putDetails(t, h, sampleDetail(t))
	select {
	case <-inFlight:
	case <-time.After(15 * time.Second):
		t.Fatal("the delivery never reached the receiver")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := h.Close(stopCtx); err != nil {
		t.Fatalf("Close: %v", err)
	}

	h = startEmbeddedIn(t, dir, nil)
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	id := r.requests()[0].header.Get(signing.HeaderID)
	attempts, err := h.Store.AttemptsOfDelivery(ctx, sampleTenant, id)
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != delivery.OutcomeSucceeded || attempts[0].StatusCode != 200 {
		t.Fatalf("attempts after the stop: %+v, %v; want the one attempt, recorded as the success it was", attempts, err)
	}
	time.Sleep(2 * time.Second)
	if n := r.count(); n != 1 {
		t.Fatalf("the receiver got the delivery %d times; the restart sent it again", n)
	}
}
