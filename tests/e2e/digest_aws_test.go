package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/digestfn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/slackstandin"
	"github.com/heraldhq/herald/tests/standin"
)

// Digests on the AWS adapters and the stand-ins, configured through the API function: a daily
// (24 h) and a weekly (7-day) digest at 09:00 in New York, over activity the notify function
// recorded from label events. The digest function fires twice at once at 09:00 while SES
// refuses one recipient (a run that fails midway), then twice again once SES takes it: each
// address gets one email per digest, read back from the SES stand-in's store; the Slack
// stand-in one message per digest; each webhook one digest_event, verified with the Standard
// Webhooks library and checked against its schema, any repeat with the same webhook-id; the
// stats are the preview's, and the weekly period counts what the daily one does not.
func TestDigestsOnTheStandIns(t *testing.T) {
	rig := newAWSRig(t)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	due := digest.NextAt(9, 0, ny, time.Now())
	clock := due.Add(30 * time.Second)

	lead, qa := standin.UniqueName("lead")+"@example.com", standin.UniqueName("qa")+"@example.com"
	type weekOrDay struct {
		title, period string
		hook          *receiver
		id            string
	}
	digests := []*weekOrDay{{title: "Daily QA", period: "24h"}, {title: "Weekly QA", period: "7d"}}
	for _, d := range digests {
		d.hook = newReceiver(t, nil)
		status, n := rig.alice("POST", "/v1/notifications", map[string]any{
			"title": d.title, "projects": []string{sampleProject},
			"channels": map[string]any{"slack_channels": []string{rig.channelID}, "emails": []string{lead, qa}, "webhooks": []any{map[string]string{"url": d.hook.url()}}},
			"triggers": map[string]any{"digests": []map[string]any{{"times_of_day": []string{"09:00"}, "time_zone": "America/New_York", "period": d.period}}},
		})
		if status != 201 {
			t.Fatalf("create %s: %d %v", d.title, status, n)
		}
		d.id = n["id"].(string)
		d.hook.secret = n["channels"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)["secret"].(string)
	}

	// Two hours before 09:00 a label is submitted and another rejected; three days before,
	// another submitted (in the week, not the day); the same event twice counts once.
	at := func(sample string, when time.Time) func(string) string {
		return func(s string) string {
			for _, old := range []string{"2024-03-25T15:18:50.112233+00:00", "2024-03-25T15:31:40.250000+00:00"} {
				s = strings.Replace(s, old, when.UTC().Format("2006-01-02T15:04:05.000000+00:00"), 1)
			}
			return s
		}
	}
	for _, e := range []struct {
		sample string
		when   time.Time
	}{
		{"notify/label-submitted.json", due.Add(-2 * time.Hour)},
		{"notify/label-submitted.json", due.Add(-2 * time.Hour)},
		{"notify/label-rejected.json", due.Add(-time.Hour)},
		{"notify/label-submitted.json", due.Add(-72 * time.Hour)},
	} {
		if err := rig.publish(t, e.sample, at(e.sample, e.when)); err != nil {
			t.Fatalf("%s: %v", e.sample, err)
		}
	}

	failing := &failingRecipients{}
	clients := rig.b.Clients(nil)
	fn, err := digestfn.Over(lambdafn.MailConfig{
		From: "Herald <noreply@herald.example>", UnsubscribeKey: rig.unsubscribeKey, PublicAPIURL: "https://api.herald.example",
	}, digestfn.Ports{
		Schedules:     dynamo.NewSchedules(clients.DynamoDB, rig.b.WebhooksTable),
		Notifications: dynamo.NewWebhookStore(clients.DynamoDB, rig.b.WebhooksTable),
		Activity:      dynamo.NewActivity(clients.DynamoDB, rig.b.ActivityTable),
		Queue:         sqsqueue.New(clients.SQS, rig.b.QueueURL, rig.b.DLQURL),
		Mail:          sesmail.New(standin.SESv2(t, func(o *sesv2.Options) { o.APIOptions = append(o.APIOptions, failing.middleware) }), sesmail.Options{}),
		Claims:        dynamo.NewIdempotency(clients.DynamoDB, rig.b.AttemptsTable, digestfn.ClaimLease).KeepDoneFor(digestfn.SentMemory),
	}, rig.counts, rig.logger)
	if err != nil {
		t.Fatal(err)
	}
	fn.Dispatcher.Now = func() time.Time { return clock }
	fireTwice := func() { fireTwiceAtOnce(t, "digest run", fn.Handle) }

	// Before 09:00 nothing is due.
	clock = due.Add(-time.Minute)
	fireTwice()
	if n := len(sentTo(t, lead)); n != 0 {
		t.Fatalf("%d digest emails before their time of day", n)
	}
	clock = due.Add(30 * time.Second)
	failing.set(qa)
	fireTwice()
	if got := sentTo(t, qa); len(got) != 0 {
		t.Fatalf("the refused recipient got %d emails", len(got))
	}
	failing.set()
	fireTwice()
	fireTwice() // and once more: everything was sent, nothing goes again

	for _, addr := range []string{lead, qa} {
		got := sentTo(t, addr)
		if len(got) != 2 {
			t.Fatalf("%s got %d digest emails, want one per digest", addr, len(got))
		}
		for _, m := range got {
			if !strings.HasPrefix(m.Subject, "Herald digest: ") || !strings.Contains(m.HTML, "<table") ||
				!strings.Contains(m.Text, "annotator@example.com") || m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
				t.Fatalf("digest email to %s: %+v", addr, m)
			}
		}
	}

	rig.pollUntil(t, 30*time.Second, func() bool {
		return len(rig.slack.Messages(qaGrant.ChannelID)) >= 2 && digests[0].hook.count() >= 1 && digests[1].hook.count() >= 1
	})
	slack := rig.slack.Messages(qaGrant.ChannelID)
	if len(slack) != 2 {
		t.Fatalf("Slack got %d messages, want one per digest", len(slack))
	}
	for _, d := range digests {
		if !slices.ContainsFunc(slack, func(m slackstandin.Message) bool { return strings.Contains(string(m.Body), "Digest: "+d.title) }) {
			t.Fatalf("no Slack message for %s", d.title)
		}
	}

	for _, d := range digests {
		reqs := d.hook.requests()
		ids := map[string]bool{}
		for _, r := range reqs {
			if r.verifyErr != nil {
				t.Fatalf("%s: Standard Webhooks verification: %v", d.title, r.verifyErr)
			}
			ids[r.header.Get("Webhook-Id")] = true
		}
		if len(ids) != 1 {
			t.Fatalf("%s: %d deliveries with %d distinct webhook-ids, want one digest_event", d.title, len(reqs), len(ids))
		}
		body := reqs[0].body
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := contract.DigestSchema(t).Validate(doc); err != nil {
			t.Fatalf("%s: digest_event does not fit its schema: %v\n%s", d.title, err, body)
		}
		var env struct {
			Payload payloads.DigestPayload `json:"payload"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		period, submitted := 24*time.Hour, 1
		if d.period == "7d" {
			period, submitted = 7*24*time.Hour, 2
		}
		p := env.Payload
		if p.Period != payloads.NewPeriod(due.Add(-period), due) || len(p.ProjectsStats) != 1 {
			t.Fatalf("%s: %s, want the %s ending at %s", d.title, body, period, due.UTC())
		}
		ann, rev := p.ProjectsStats[0].AnnotatorStats, p.ProjectsStats[0].ReviewerStats
		if len(ann) != 1 || ann[0].SubmittedLabels != submitted || ann[0].RejectedLabels != 1 || len(rev) != 1 || rev[0].RejectedLabels != 1 || rev[0].UserEmail != "reviewer@example.com" {
			t.Fatalf("%s: stats %s", d.title, body)
		}

		// The preview for the same period shows the same stats.
		status, preview := rig.alice("GET", fmt.Sprintf("/v1/notifications/%s/digest-preview?period=%s&end=%s", d.id, d.period, url.QueryEscape(due.In(ny).Format(time.RFC3339))), nil)
		if status != 200 {
			t.Fatalf("preview: %d %v", status, preview)
		}
		var previewStats []payloads.ProjectStats
		raw, _ := json.Marshal(preview["projects_stats"])
		if err := json.Unmarshal(raw, &previewStats); err != nil || !statsEqual(previewStats, p.ProjectsStats) {
			t.Fatalf("%s: preview %s, sent %+v", d.title, raw, p.ProjectsStats)
		}
	}
}

func statsEqual(a, b []payloads.ProjectStats) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
