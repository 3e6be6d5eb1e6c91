package e2e_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/tests/contract"
)

// A digest at a time of day on the embedded default, configured through the API: at that
// minute one email per address, one Slack message and one signed digest_event, whose stats
// are the preview's for the same period; the schedule then moves to the next day.
func TestEmbeddedDigestAtItsTimeOfDay(t *testing.T) {
	rig := startNotifyRig(t)
	// The next minute in Kathmandu (+05:45), at least 5 s away so the notification is saved
	// before it.
	kathmandu, err := time.LoadLocation("Asia/Kathmandu")
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(5 * time.Second).Truncate(time.Minute).Add(time.Minute)
	status, created := rig.call(t, "POST", "/v1/notifications", map[string]any{
		"title":    "Daily QA",
		"projects": []string{sampleProject},
		"channels": map[string]any{
			"slack_channels": []string{rig.channel},
			"emails":         []string{"lead@example.com", "qa@example.com"},
			"webhooks":       []map[string]any{{"url": rig.hook.url()}},
		},
		"triggers": map[string]any{"digests": []map[string]any{{
			"times_of_day": []string{due.In(kathmandu).Format("15:04")}, "time_zone": "Asia/Kathmandu", "period": "24h",
		}}},
	})
	if status != 201 {
		t.Fatalf("create notification: %d %v", status, created)
	}
	id := created["id"].(string)
	rig.hook.secret = created["channels"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)["secret"].(string)

	// A label submitted now counts in the digest: the notify function records it.
	rig.publish(t, sampleEntryOf(t, "label-submitted.json", func(d string) string {
		return strings.Replace(d, "2024-03-25T15:18:50.112233+00:00", time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"), 1)
	}))
	waitUntil(t, 10*time.Second, "the submission in the preview", func() bool {
		_, p := rig.call(t, "GET", "/v1/notifications/"+id+"/digest-preview", nil)
		stats, _ := p["projects_stats"].([]any)
		return len(stats) == 1 && len(stats[0].(map[string]any)["annotator_stats"].([]any)) == 1
	})

	slackBefore := len(rig.slack.Messages(qaGrant.ChannelID))
	waitUntil(t, time.Until(due)+30*time.Second, "the digest on every channel", func() bool {
		return len(emailsTo(t, rig.emails(t), "lead@example.com")) == 1 && len(emailsTo(t, rig.emails(t), "qa@example.com")) == 1 &&
			rig.hook.count() == 1 && len(rig.slack.Messages(qaGrant.ChannelID)) == slackBefore+1
	})
	if time.Now().Before(due) {
		t.Fatalf("the digest went out before its time of day %s", due)
	}
	got := rig.hook.requests()[0]
	if got.verifyErr != nil {
		t.Fatalf("Standard Webhooks verification: %v", got.verifyErr)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(got.body))
	if err != nil {
		t.Fatal(err)
	}
	if err := contract.DigestSchema(t).Validate(doc); err != nil {
		t.Fatalf("digest_event does not fit its schema: %v\n%s", err, got.body)
	}
	var env struct {
		EventType string                 `json:"event_type"`
		Payload   payloads.DigestPayload `json:"payload"`
	}
	if err := json.Unmarshal(got.body, &env); err != nil {
		t.Fatal(err)
	}
	if env.EventType != payloads.Digest || env.Payload.Period != payloads.NewPeriod(due.Add(-24*time.Hour), due) {
		t.Fatalf("digest_event %s: want the 24 h ending at %s", got.body, due.UTC())
	}
	ann := env.Payload.ProjectsStats[0].AnnotatorStats
	if len(ann) != 1 || ann[0].UserEmail != "annotator@example.com" || ann[0].SubmittedLabels != 1 || *ann[0].AvgTimeForAdd != 84200 {
		t.Fatalf("stats %s", got.body)
	}
	lead := emailsTo(t, rig.emails(t), "lead@example.com")[0]
	if !strings.Contains(lead.Header.Get("Subject"), "Herald digest: Daily QA, 1 labels submitted") || lead.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Fatalf("digest email headers %v", lead.Header)
	}
	if msgs := rig.slack.Messages(qaGrant.ChannelID); !strings.Contains(string(msgs[len(msgs)-1].Body), "Digest: Daily QA") {
		t.Fatalf("slack got %s", msgs[len(msgs)-1].Body)
	}
	// Runs every second after it send nothing more.
	time.Sleep(3 * time.Second)
	if rig.hook.count() != 1 || len(emailsTo(t, rig.emails(t), "lead@example.com")) != 1 {
		t.Fatalf("the digest was sent again: %d webhook deliveries, %d emails", rig.hook.count(), len(emailsTo(t, rig.emails(t), "lead@example.com")))
	}
}
