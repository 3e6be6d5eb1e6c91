package notify_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/lambdafn/notifyfn"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/notify"
)

type sampleEvent struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// occurrencesOfSamples parses every accepted sample of the router and the notification router.
func occurrencesOfSamples(t *testing.T) map[string][]notify.Occurrence {
	t.Helper()
	out := map[string][]notify.Occurrence{}
	for _, folder := range []string{"router", "notify"} {
		names, err := samples.List(folder)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			raw, _ := samples.Read(name)
			var ev sampleEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			occs, _, err := notifyfn.Interpret(ev.DetailType, ev.Detail)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = occs
		}
	}
	return out
}

func compile(t *testing.T, eventType string) *jsonschema.Schema {
	t.Helper()
	raw := payloads.Schema(eventType)
	if raw == nil {
		t.Fatalf("no schema for %s in events/payloads", eventType)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(eventType+".json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(eventType + ".json")
	if err != nil {
		t.Fatalf("%s schema: %v", eventType, err)
	}
	return s
}

// Every webhook body a notification sends validates against its published schema, every
// catalogued trigger is fired by some sample, and the documented payloads are the stage
// webhooks' byte for byte.
func TestEveryWebhookBodyMatchesItsSchema(t *testing.T) {
	fired := map[notifications.EventType]bool{}
	for name, occs := range occurrencesOfSamples(t) {
		for _, o := range occs {
			fired[o.Event] = true
			body, err := o.Body("687457ce-6489-4891-b7c8-544477d99e41")
			if err != nil {
				t.Fatalf("%s %s: %v", name, o.Event, err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := compile(t, o.WebhookEventType).Validate(doc); err != nil {
				t.Errorf("%s: %s body %s does not match its schema: %v", name, o.WebhookEventType, body, err)
			}
			if o.Summary == "" || o.Key == "" || o.TenantID != "acme" {
				t.Errorf("%s: occurrence %+v", name, o)
			}
		}
	}
	for _, e := range notifications.Catalogue() {
		if !fired[e.Type] {
			t.Errorf("no sample fires %s", e.Type)
		}
	}
	for _, et := range payloads.EventTypes() {
		compile(t, et)
	}
	golden, _ := samples.Read("payloads/task_submitted_event.json")
	occs := occurrencesOfSamples(t)["router/task-submitted.json"]
	var want, got map[string]any
	body, _ := occs[0].Body("687457ce-6489-4891-b7c8-544477d99e41")
	_ = json.Unmarshal(golden, &want)
	_ = json.Unmarshal(body, &got)
	for _, k := range []string{"uid", "version", "source", "event_type"} {
		if got[k] != want[k] {
			t.Errorf("task_submitted_event %s = %v, documented %v", k, got[k], want[k])
		}
	}
}

// The same event gives the same item ids; another notification, channel, target or event
// gives others.
func TestItemIDsAreStableAndDistinct(t *testing.T) {
	a := occurrencesOfSamples(t)["notify/label-submitted.json"][0]
	b := occurrencesOfSamples(t)["notify/label-submitted.json"][0]
	if notify.ItemID(a, "n1", "slack", "c1") != notify.ItemID(b, "n1", "slack", "c1") {
		t.Fatal("the same event gave two ids")
	}
	ids := []string{
		notify.ItemID(a, "n1", "slack", "c1"), notify.ItemID(a, "n2", "slack", "c1"),
		notify.ItemID(a, "n1", "email", "c1"), notify.ItemID(a, "n1", "slack", "c2"),
		notify.ItemID(occurrencesOfSamples(t)["notify/label-edited.json"][0], "n1", "slack", "c1"),
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 5 {
		t.Fatalf("ids collide: %v", ids)
	}
}

// A title cannot mention @channel or forge a link in Slack, and the message carries what the
// issue asks: title, event, project, task, label, user, time.
func TestSlackMessageEscapesAndCarriesTheFields(t *testing.T) {
	o := occurrencesOfSamples(t)["notify/label-rejected.json"][0]
	msg := notify.SlackMessage("QA <!channel> & <https://evil.example|click>", o)
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if strings.Contains(msg.Text, "<!channel>") || strings.Contains(s, "<https://evil") {
		t.Fatalf("unescaped control sequence: %s", s)
	}
	for _, want := range []string{`"type":"header"`, "label_rejected", o.ProjectHash, o.TaskID, o.LabelHash, "reviewer@example.com", "!date^1711380700^"} {
		if !strings.Contains(s, want) {
			t.Errorf("message lacks %q: %s", want, s)
		}
	}
}
