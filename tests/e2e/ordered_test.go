package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/contract"
)

// Ordered delivery: an ordered webhook and a plain one on the same stage get the same events.
// The ordered webhook's receiver fails its third and fourth requests, the first two attempts
// of the third event; its later events must wait behind it and arrive in the order the events
// were accepted, while the plain webhook gets everything without waiting.
const (
	orderedEvents   = 12
	orderedSchedule = "2s,2s,2s,2s"
)

// failThirdEventTwice fails the ordered webhook's third and fourth requests.
func failThirdEventTwice(n int) (int, http.Header) {
	if n == 3 || n == 4 {
		return http.StatusInternalServerError, nil
	}
	return http.StatusOK, nil
}

func TestOrderedWebhookGetsEventsInOrderOnTheStandIns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true, schedule: orderedSchedule})
	ordered, plain := newReceiver(t, failThirdEventTwice), newReceiver(t, nil)
	hook := contract.NewWebhook(t, sampleTenant, "wh_ordered", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, ordered.url())
	hook.Ordered = true
	if err := w.store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	ordered.secret = hook.Secrets[0]
	plain.secret = w.addWebhook(t, "wh_plain", sampleAnnotateStage, stagehooks.StageAnnotate, plain.url()).Secrets[0]
	// The router enqueues each event before the next is published: that is the order accepted.
	for i := range orderedEvents {
		if err := w.publishTransition(t, i); err != nil {
			t.Fatal(err)
		}
	}
	// Two event source mappings, as on AWS, each with two concurrent pollers.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := func() bool { return successes(ordered) >= orderedEvents && plain.count() >= orderedEvents }
	var wg sync.WaitGroup
	for _, p := range []func(context.Context) (int, error){w.poller.PollOnce, w.poller.PollOnce, w.orderedPoller.PollOnce, w.orderedPoller.PollOnce} {
		wg.Go(func() {
			for ctx.Err() == nil && !done() {
				if _, err := p(ctx); err != nil && ctx.Err() == nil {
					t.Logf("poll: %v", err)
				}
			}
		})
	}
	wg.Wait()
	checkOrdered(t, ordered, plain)
}

func TestOrderedWebhookGetsEventsInOrderOnTheEmbeddedDefault(t *testing.T) {
	t.Parallel()
	h := startEmbedded(t, map[string]string{"HERALD_RETRY_SCHEDULE": orderedSchedule})
	ordered, plain := newReceiver(t, failThirdEventTwice), newReceiver(t, nil)
	hook := contract.NewWebhook(t, sampleTenant, "wh_ordered", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, ordered.url())
	hook.Ordered = true
	other := contract.NewWebhook(t, sampleTenant, "wh_plain", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, plain.url())
	for _, wh := range []stagehooks.Webhook{hook, other} {
		if err := h.Store.CreateWebhook(context.Background(), wh); err != nil {
			t.Fatal(err)
		}
	}
	ordered.secret, plain.secret = hook.Secrets[0], other.Secrets[0]
	// One event per PutEvents call, a moment apart: EventBridge, and the embedded bus with it,
	// may invoke the router for events published together in any order, so "accepted" is
	// the order the router enqueued them, which a pause between events makes this order.
	detail := sampleDetail(t)
	for i := range orderedEvents {
		putDetails(t, h, strings.Replace(detail, "2024-03-25T15:18:55.406529+00:00", fmt.Sprintf("2024-03-25T15:18:55.%06d+00:00", i), 1))
		time.Sleep(50 * time.Millisecond)
	}
	waitUntil(t, 90*time.Second, "every delivery to both webhooks", func() bool {
		return successes(ordered) >= orderedEvents && plain.count() >= orderedEvents
	})
	time.Sleep(300 * time.Millisecond) // anything delivered twice arrives now or never
	checkOrdered(t, ordered, plain)
}

// successes counts the requests r answered 2xx.
func successes(r *receiver) int {
	n := 0
	for i := range r.requests() {
		if r.status == nil {
			n++
		} else if code, _ := r.status(i + 1); code < 300 {
			n++
		}
	}
	return n
}

// checkOrdered asserts the ordered receiver got events 0..n-1 in order, the third after its two
// failures and before anything later, under one webhook-id per event; and that the plain
// receiver had every event before the ordered one's third got through.
func checkOrdered(t *testing.T, ordered, plain *receiver) {
	t.Helper()
	got := ordered.requests()
	var seq []int
	ids := map[int]string{}
	for i, g := range got {
		if g.verifyErr != nil {
			t.Fatalf("a delivery fails verification: %v", g.verifyErr)
		}
		n := eventIndex(t, g.body)
		id := g.header.Get(signing.HeaderID)
		if prev, ok := ids[n]; ok && prev != id {
			t.Fatalf("event %d arrived under webhook-ids %s and %s", n, prev, id)
		}
		ids[n] = id
		if code, _ := failThirdEventTwice(i + 1); code == http.StatusOK {
			seq = append(seq, n)
		} else if n != 2 {
			t.Fatalf("request %d (a failure) carried event %d, want the third event (2): a later event overtook it", i+1, n)
		}
	}
	want := make([]int, orderedEvents)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(seq, want) {
		t.Fatalf("ordered webhook got events %v (%d requests), want %v", seq, len(got), want)
	}
	if len(got) != orderedEvents+2 {
		t.Fatalf("ordered webhook got %d requests, want %d (%d events, two failures)", len(got), orderedEvents+2, orderedEvents)
	}
	held := got[4].at // the third event's success, after two failures 2 s apart
	plainGot := plain.requests()
	if len(plainGot) != orderedEvents {
		t.Fatalf("plain webhook got %d requests, want %d", len(plainGot), orderedEvents)
	}
	last := slices.MaxFunc(plainGot, func(a, b received) int { return a.at.Compare(b.at) }).at
	if !last.Before(held) {
		t.Fatalf("plain webhook's last delivery at %s, after the ordered webhook's held event went through at %s: the ordered webhook's failure held back another webhook",
			last.Format(time.RFC3339Nano), held.Format(time.RFC3339Nano))
	}
	t.Logf("ordered: %d requests, events in order; the third held %s by its failures; plain webhook done %s before it",
		len(got), held.Sub(got[2].at).Round(time.Millisecond), held.Sub(last).Round(time.Millisecond))
}

// eventIndex is the i of publishTransition(i) that body's event carries.
func eventIndex(t *testing.T, body []byte) int {
	t.Helper()
	var p struct {
		Created string `json:"event_created_timestamp"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("delivery body: %v", err)
	}
	n := transitionIndex(p.Created)
	if n < 0 {
		t.Fatalf("event_created_timestamp %q carries no index", p.Created)
	}
	return n
}
