package e2e_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/contract"
)

// Endpoint health on the embedded default, with five days shrunk to three seconds: a
// notification's webhook whose receiver fails every attempt is disabled once, with its reason
// in the API; the notification's address gets an email through the five-minute batching (two
// seconds here) and the bus gets a "Herald Endpoint Disabled" event. The receiver mends, the
// webhook is enabled again through the API, and recover sends what was dead-lettered
// meanwhile, with the webhook-ids the failed attempts carried.
func TestEmbeddedDisablesAFailingWebhookAndTellsItsOwner(t *testing.T) {
	logs := &lockedBuffer{}
	rig := startNotifyRigWith(t, map[string]string{
		"HERALD_RETRY_SCHEDULE":         "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
		"HERALD_ENDPOINT_DISABLE_AFTER": "3s",
		"HERALD_ENDPOINT_MIN_FAILURES":  "3",
	}, logs)
	var healthy atomic.Bool
	rig.hook.status = func(int) (int, http.Header) {
		if healthy.Load() {
			return 200, nil
		}
		return 503, nil
	}
	start := time.Now().UTC()
	status, created := rig.call(t, "POST", "/v1/notifications", map[string]any{
		"title":    "QA hooks",
		"projects": []string{sampleProject},
		"channels": map[string]any{"emails": []string{"Owner@example.com"}, "webhooks": []map[string]any{{"url": rig.hook.url()}}},
		"triggers": map[string]any{"events": []string{"task_submitted", "label_submitted"}},
	})
	if status != 201 {
		t.Fatalf("create notification: %d %v", status, created)
	}
	notifID, _ := created["id"].(string)
	hook := created["channels"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)
	hookID, _ := hook["id"].(string)
	rig.hook.secret, _ = hook["secret"].(string)

	rig.publish(t, sampleEntryOf(t, "task-submitted.json", nil), sampleEntryOf(t, "label-submitted.json", nil))

	var disabled map[string]any
	waitUntil(t, 30*time.Second, "the failing webhook disabled", func() bool {
		_, n := rig.call(t, "GET", "/v1/notifications/"+notifID, nil)
		disabled = n["channels"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)
		return disabled["enabled"] == false
	})
	if reason, _ := disabled["disabled_reason"].(string); !strings.Contains(reason, "every attempt failed since") {
		t.Fatalf("disabled_reason %q", reason)
	}
	if got := rig.h.Counts.Get(telemetry.WebhooksDisabled, "failing"); got != 1 {
		t.Fatalf("webhooks disabled for failing: %d, want 1", got)
	}
	failed := map[string]bool{}
	for _, r := range rig.hook.requests() {
		failed[r.header.Get(signing.HeaderID)] = true
	}
	if len(failed) != 2 {
		t.Fatalf("the receiver saw %d deliveries, want 2", len(failed))
	}

	// The owner's email, batched like every notification email.
	waitUntil(t, 20*time.Second, "an email to the notification's address", func() bool {
		for _, m := range emailsTo(t, rig.emails(t), "owner@example.com") {
			if strings.Contains(bodyOf(t, m), "was disabled") {
				return true
			}
		}
		return false
	})
	// The operational event, as published on the embedded bus.
	detail := logs.published(t, "Herald Endpoint Disabled")
	if len(detail) != 1 {
		t.Fatalf("%d endpoint-disabled events, want 1", len(detail))
	}
	var ev map[string]any
	if err := json.Unmarshal(detail[0], &ev); err != nil {
		t.Fatal(err)
	}
	if err := contract.EndpointDisabledSchema(t).Validate(ev); err != nil {
		t.Fatalf("event detail %s: %v", detail[0], err)
	}
	if ev["tenant_id"] != sampleTenant || ev["webhook_id"] != hookID || ev["notification_id"] != notifID ||
		strings.Contains(string(detail[0]), "/hooks/herald") || strings.Contains(string(detail[0]), "whsec_") {
		t.Fatalf("event detail %s", detail[0])
	}

	// The other delivery comes back for its next attempt and is dead-lettered unattempted.
	waitUntil(t, 10*time.Second, "the other delivery dead-lettered", func() bool {
		return rig.h.Counts.Get(telemetry.JobsDropped, delivery.ReasonWebhookDisabled) >= 1
	})
	if n := rig.hook.count(); n != len(rig.hook.requests()) || n == 0 {
		t.Fatalf("receiver count %d", n)
	}
	attemptsBefore := rig.hook.count()
	time.Sleep(1500 * time.Millisecond)
	if rig.hook.count() != attemptsBefore {
		t.Fatal("a disabled webhook was attempted")
	}

	// Mend, enable, recover: both deliveries arrive, with the ids they failed with.
	healthy.Store(true)
	before := rig.hook.count()
	status, updated := rig.call(t, "PATCH", "/v1/notifications/"+notifID, map[string]any{
		"channels": map[string]any{"webhooks": []map[string]any{{"id": hookID, "enabled": true}}},
	})
	if status != 200 {
		t.Fatalf("enable: %d %v", status, updated)
	}
	status, rec := rig.call(t, "POST", "/v1/webhooks/"+hookID+"/recover", map[string]any{"since": start.Format(time.RFC3339)})
	if status != 202 || rec["queued"] != float64(2) {
		t.Fatalf("recover: %d %v", status, rec)
	}
	waitUntil(t, 20*time.Second, "the recovered deliveries", func() bool { return rig.hook.count() >= before+2 })
	for _, r := range rig.hook.requests()[before:] {
		if id := r.header.Get(signing.HeaderID); !failed[id] || r.verifyErr != nil {
			t.Errorf("recovered delivery %s: known %v, verify %v", id, failed[id], r.verifyErr)
		}
	}
	if n := rig.h.Counts.Get(telemetry.DeadLettered, delivery.ReasonWebhookDisabled); n != 1 {
		t.Errorf("dead-lettered as the webhook was disabled: %d, want 1", n)
	}
}

// lockedBuffer collects log lines written from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// published returns the detail of each event the local bus logged as published.
func (b *lockedBuffer) published(t *testing.T, detailType string) [][]byte {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out [][]byte
	for _, line := range strings.Split(b.buf.String(), "\n") {
		if !strings.Contains(line, `msg="published `+detailType+`"`) {
			continue
		}
		_, after, ok := strings.Cut(line, " detail=")
		quoted, err := strconv.QuotedPrefix(after)
		if !ok || err != nil {
			t.Fatalf("log line without a detail: %s", line)
		}
		d, _ := strconv.Unquote(quoted)
		out = append(out, []byte(d))
	}
	return out
}
