package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/contract"
)

// Endpoint health on the AWS stand-ins, with five days shrunk to two seconds: a stage
// webhook whose receiver fails every attempt is disabled once, with its reason, and a "Herald
// Endpoint Disabled" event goes to the bus through the EventBridge API. Its successful
// neighbour on the same stage costs no health request at all, and a flaky one's first success
// ends its streak; once the failing receiver
// mends and the webhook is enabled again, its first success ends the streak with one request
// and the rest cost none.
func TestFailingWebhookIsDisabledAndAnnounced(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true, schedule: "1s,1s,1s,1s,1s,1s,1s,1s", cacheTTL: 10 * time.Second,
		health: &delivery.HealthPolicy{DisableAfter: 2 * time.Second, MinFailures: 3}})
	var healthy atomic.Bool
	down := newReceiver(t, func(int) (int, http.Header) {
		if healthy.Load() {
			return 200, nil
		}
		return 502, nil
	})
	up := newReceiver(t, nil)
	flaky := newReceiver(t, func(n int) (int, http.Header) {
		if n == 1 {
			return 500, nil
		}
		return 200, nil
	})
	flaky.secret = w.addWebhook(t, "wh_flaky", sampleAnnotateStage, stagehooks.StageAnnotate, flaky.url()+"?flaky").Secrets[0]
	downHook := contract.NewWebhook(t, sampleTenant, "wh_down", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, down.url())
	downHook.AlertEmail = "Ops@Example.com"
	if err := w.store.CreateWebhook(context.Background(), downHook); err != nil {
		t.Fatal(err)
	}
	down.secret = downHook.Secrets[0]
	up.secret = w.addWebhook(t, "wh_up", sampleAnnotateStage, stagehooks.StageAnnotate, up.url()+"?up").Secrets[0]
	for i := range 3 {
		if err := w.publishTransition(t, i); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	w.pollUntil(t, 30*time.Second, func() bool {
		wh, err := w.store.GetWebhook(ctx, sampleTenant, "wh_down")
		return err == nil && !wh.Enabled
	})
	wh, _ := w.store.GetWebhook(ctx, sampleTenant, "wh_down")
	if !strings.Contains(wh.DisabledReason, "every attempt failed since") {
		t.Fatalf("disabled_reason %q", wh.DisabledReason)
	}
	if n := w.counts.Get(telemetry.WebhooksDisabled, "failing"); n != 1 {
		t.Fatalf("webhooks disabled for failing: %d, want 1", n)
	}
	if up.count() != 3 {
		t.Fatalf("the healthy neighbour got %d deliveries, want 3", up.count())
	}
	// One failure, then successes: the first success after it ended its streak.
	w.pollUntil(t, 10*time.Second, func() bool { return flaky.count() >= 4 })
	flakyRef := delivery.EndpointRef{TenantID: sampleTenant, WebhookID: "wh_flaky"}
	if eps, err := w.store.Endpoints(ctx, []delivery.EndpointRef{flakyRef}); err != nil || !eps[flakyRef].FailingSince.IsZero() {
		t.Fatalf("after a failure and successes, wh_flaky is failing since %v (%v)", eps[flakyRef].FailingSince, err)
	}

	// The stage webhook's alert address gets a line in its next email.
	mailLines := dynamo.NewMailLines(w.backend.Admin().DynamoDB, w.backend.MailTable)
	lines, err := mailLines.PendingLines(ctx, mailbatch.Recipient{TenantID: sampleTenant, Address: "ops@example.com"}, 10)
	if err != nil || len(lines) != 1 || !strings.Contains(lines[0].Text, "wh_down") || lines[0].NotificationID != "" {
		t.Fatalf("alert lines for ops@example.com: %+v, %v", lines, err)
	}

	published := w.backend.Published()
	if len(published) != 1 {
		t.Fatalf("%d events on the bus, want 1", len(published))
	}
	var env struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(published[0], &env); err != nil {
		t.Fatal(err)
	}
	var detail map[string]any
	_ = json.Unmarshal(env.Detail, &detail)
	if err := contract.EndpointDisabledSchema(t).Validate(detail); err != nil {
		t.Fatalf("event %s: %v", published[0], err)
	}
	if env.Source != operational.Source || env.DetailType != operational.DetailTypeEndpointDisabled ||
		detail["webhook_id"] != "wh_down" || detail["tenant_id"] != sampleTenant || detail["notification_id"] != nil {
		t.Fatalf("event %s", published[0])
	}

	// Mend and enable; later transitions reach it again. One request ends the streak; the
	// successes after it and all of the neighbour's cost none.
	healthy.Store(true)
	wh.Enabled = true
	if _, err := w.store.UpdateWebhook(ctx, wh, wh.Version); err != nil {
		t.Fatal(err)
	}
	updatesBefore := w.deliveryRequest.Get("DynamoDB.UpdateItem")
	seen := down.count()
	for i := 3; i < 13; i++ {
		if err := w.publishTransition(t, i); err != nil {
			t.Fatal(err)
		}
	}
	w.pollUntil(t, 30*time.Second, func() bool { return down.count() >= seen+10 && up.count() >= 13 && flaky.count() >= 14 })
	if n := w.deliveryRequest.Get("DynamoDB.UpdateItem") - updatesBefore; n != 0 {
		// The API's update started the webhook's health afresh, so not even one is needed.
		t.Errorf("30 successful deliveries cost %d UpdateItem requests, want 0 (%s)", n, w.deliveryRequest)
	}
}
