package browser_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/chromedp/chromedp"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/tests/standin"
)

// The Events page shows a producer why a webhook did not fire: a stage transition onto a stage
// without a webhook fired nothing and says so, and an event with a field the contract does not
// know is rejected by both routers, naming the field. The transition that reached its webhook
// is in the delivery log, not here. Another tenant sees none of them.
func TestEventsPage(t *testing.T) {
	rig := startConsoleRig(t)
	hook := newHookReceiver(t)
	if status, w := rig.call(t, "POST", "/v1/webhooks", map[string]any{
		"project_hash": project, "stage_uuid": annotateStage, "stage_type": "annotate", "url": hook.srv.URL + "/hooks",
	}); status != 201 {
		t.Fatalf("create a stage webhook: %d %v", status, w)
	}
	raw, err := samples.Read("putevents/task-submitted.json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []ebtypes.PutEventsRequestEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	submitted := entries[0]
	elsewhere := submitted
	elsewhere.Detail = aws.String(strings.Replace(*submitted.Detail, annotateStage, "a1b2c3d4-0000-4000-8000-00000000a999", 1))
	unknown := submitted
	unknown.Detail = aws.String(strings.Replace(*submitted.Detail, `"schema_version":1`, `"schema_version":1,"surprise":true`, 1))
	bus := eventbridge.NewFromConfig(standin.AWSConfig(t), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(rig.h.EventsURL) })
	for _, e := range []ebtypes.PutEventsRequestEntry{submitted, elsewhere, unknown} {
		out, err := bus.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{e}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("PutEvents: %v %+v", err, out)
		}
	}
	hook.waitFor(t, 1)

	b := newBrowser(t)
	b.run("sign in", chromedp.Navigate(rig.signInLink(t, "acme", "alice")))
	b.run("open the events", click(`a[data-tab="events"]`))
	b.waitText("#event-list", "Rejected")
	// The unknown field, through both routers, and the stage without a webhook.
	deadline := 0
	for evaluate[int](b, "count", `document.querySelectorAll("#event-list tbody tr").length`) < 3 {
		if deadline++; deadline > 50 {
			t.Fatal("the Events page does not list the three records")
		}
		b.run("show again", click("#events-show"))
	}
	if n := evaluate[int](b, "count", `document.querySelectorAll("#event-list tbody tr").length`); n != 3 {
		t.Fatalf("the Events page lists %d records, want 3: the routed event is in the delivery log", n)
	}
	b.waitText("#event-list", "no_webhook")
	b.waitText("#event-list", "surprise")
	b.page("events")
	b.run("rejected only", setValue("#events-outcome", "rejected"), click("#events-show"))
	for tries := 0; ; tries++ {
		rows := evaluate[int](b, "count", `document.querySelectorAll("#event-list tbody tr").length`)
		rejected := evaluate[int](b, "count", `document.querySelectorAll("#event-list tbody tr[data-outcome=rejected]").length`)
		if rows == 2 && rejected == 2 {
			break
		}
		if tries > 100 {
			t.Fatalf("the rejected filter shows %d rows, %d of them rejected; want the unknown field's two", rows, rejected)
		}
		time.Sleep(50 * time.Millisecond)
	}

	b.run("sign out", click("#sign-out"), visible("#api-key"))
	b.run("sign in as another tenant", chromedp.Navigate("about:blank"), chromedp.Navigate(rig.signInLink(t, "rival", "mallory")))
	b.run("open the events", click(`a[data-tab="events"]`))
	b.waitText("#event-list", "No events match")
	b.page("events-other-tenant")
}
