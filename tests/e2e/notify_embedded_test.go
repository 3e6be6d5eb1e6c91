package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/tests/apicall"
	"github.com/heraldhq/herald/tests/slackstandin"
	"github.com/heraldhq/herald/tests/standin"
)

// The Slack app the notification tests connect channels with, registered with the stand-in.
const (
	notifySlackClientID    = "1234.5678"
	notifySlackSecret      = "s3cr3t-client-secret-value"
	notifySlackRedirectURL = "https://herald.example.com/slack/callback"
)

var qaGrant = slackstandin.Grant{TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0QA", ChannelName: "#qa", UserID: "U0ALICE"}

// notifyRig is the embedded Herald with a Slack stand-in, a webhook receiver and a short
// email interval, and a user of the sample tenant with an API key.
type notifyRig struct {
	h       *localrun.Herald
	dir     string
	slack   *slackstandin.Server
	hook    *receiver
	key     string
	channel string // Herald's id of the connected #qa channel
}

func startNotifyRig(t *testing.T) *notifyRig {
	t.Helper()
	return startNotifyRigWith(t, nil, testWriter{t})
}

// startNotifyRigWith starts the rig with env over the template's function environment and
// the log written to logs.
func startNotifyRigWith(t *testing.T, env map[string]string, logs io.Writer) *notifyRig {
	t.Helper()
	rig := &notifyRig{dir: t.TempDir(), hook: newReceiver(t, nil)}
	fnEnv := map[string]string{"HERALD_RETRY_SCHEDULE": "1s,1s,1s,1s,1s"}
	maps.Copy(fnEnv, env)
	rig.slack = slackstandin.New(t, slackstandin.Config{ClientID: notifySlackClientID, ClientSecret: notifySlackSecret, RedirectURL: notifySlackRedirectURL})
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	h, err := localrun.Start(context.Background(), localrun.Config{
		DataDir: rig.dir, Template: tmpl, EventsAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", AllowLoopback: true,
		Synchronous: "NORMAL", Pollers: 2, Env: fnEnv,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Slack: lambdafn.SlackConfig{
			ClientID: notifySlackClientID, ClientSecret: notifySlackSecret, RedirectURL: notifySlackRedirectURL,
			StateKey:     "0123456789abcdef0123456789abcdef",
			AuthorizeURL: rig.slack.AuthorizeURL(), APIURL: rig.slack.APIURL(), WebhookURLPrefix: rig.slack.WebhookPrefix(),
		},
		Mail: localrun.MailConfig{Interval: 2 * time.Second, DigestTick: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	rig.h = h
	plaintext, key, err := httpapi.NewAPIKey(sampleTenant, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.APIKeys.CreateAPIKey(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	rig.key = plaintext
	rig.channel = rig.connectSlack(t, qaGrant)
	return rig
}

// call sends an API request as alice and decodes a JSON answer.
func (rig *notifyRig) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return apicall.JSON(t, rig.h.APIURL, rig.key, method, path, body)
}

// connectSlack runs "Add to Slack" against the stand-in and returns Herald's channel id.
func (rig *notifyRig) connectSlack(t *testing.T, g slackstandin.Grant) string {
	t.Helper()
	return connectSlackThroughAPI(t, rig.slack, func(method, path string) (int, map[string]any) { return rig.call(t, method, path, nil) }, g)
}

// connectSlackThroughAPI runs "Add to Slack" through the configuration API (call) against the
// Slack stand-in and returns Herald's channel id.
func connectSlackThroughAPI(t *testing.T, s *slackstandin.Server, call func(method, path string) (int, map[string]any), g slackstandin.Grant) string {
	t.Helper()
	s.Choose(g)
	status, start := call("GET", "/v1/slack/oauth/start")
	target, _ := start["url"].(string)
	if status != 200 || target == "" {
		t.Fatalf("slack start: %d %v", status, start)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	status, ch := call("GET", "/v1/slack/oauth/callback?"+back.Query().Encode())
	id, _ := ch["id"].(string)
	if status != 200 && status != 201 || id == "" {
		t.Fatalf("slack callback: %d %v", status, ch)
	}
	return id
}

// publish puts sample events (their PutEvents files, optionally changed) on the local bus.
func (rig *notifyRig) publish(t *testing.T, entries ...ebtypes.PutEventsRequestEntry) {
	t.Helper()
	bus := eventbridge.NewFromConfig(standin.AWSConfig(t), func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(rig.h.EventsURL) })
	out, err := bus.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %+v, %v", out, err)
	}
}

// sampleEntry is the PutEvents entry of a putevents sample, with edit applied to its detail.
func sampleEntryOf(t *testing.T, name string, edit func(string) string) ebtypes.PutEventsRequestEntry {
	t.Helper()
	raw, err := samples.Read("putevents/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct{ Source, DetailType, Detail, EventBusName string }
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("%s: %v", name, err)
	}
	e := entries[0]
	if edit != nil {
		e.Detail = edit(e.Detail)
	}
	return ebtypes.PutEventsRequestEntry{Source: &e.Source, DetailType: &e.DetailType, Detail: &e.Detail, EventBusName: &e.EventBusName}
}

// emails reads the outbox: every email the mailer sent, parsed as a mail client would.
func (rig *notifyRig) emails(t *testing.T) []*netmail.Message {
	t.Helper()
	dir := filepath.Join(rig.dir, "mail", "outbox")
	entries, _ := os.ReadDir(dir)
	var out []*netmail.Message
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out = append(out, m)
	}
	return out
}

func emailsTo(t *testing.T, msgs []*netmail.Message, addr string) []*netmail.Message {
	t.Helper()
	var out []*netmail.Message
	for _, m := range msgs {
		if to, err := m.Header.AddressList("To"); err == nil && len(to) == 1 && to[0].Address == addr {
			out = append(out, m)
		}
	}
	return out
}

func bodyOf(t *testing.T, m *netmail.Message) string {
	t.Helper()
	b, _ := io.ReadAll(m.Body)
	return string(b)
}

func waitUntil(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The spec's notification, configured through the API on the embedded default: a Slack
// channel, two email addresses and a webhook, on reactive triggers. Each event reaches Slack
// (Block Kit), the signed webhook and one aggregated email per address per window; a
// duplicated event sends nothing twice that a receiver cannot tell apart; a bad event and
// another tenant's event on the same project reach nothing; unsubscribing removes one address
// only; a throttled Slack channel gets its message after Retry-After; a revoked one is marked
// broken and posted to no more.
func TestEmbeddedNotificationReachesEveryChannel(t *testing.T) {
	rig := startNotifyRig(t)
	status, created := rig.call(t, "POST", "/v1/notifications", map[string]any{
		"title":    "QA <alerts>",
		"projects": []string{sampleProject},
		"channels": map[string]any{
			"slack_channels": []string{rig.channel},
			"emails":         []string{"lead@example.com", "QA@example.com"},
			"webhooks":       []map[string]any{{"url": rig.hook.url()}},
		},
		"triggers": map[string]any{"events": []string{"task_submitted", "label_submitted", "label_rejected", "task_assigned"}},
	})
	if status != 201 {
		t.Fatalf("create notification: %d %v", status, created)
	}
	notifID, _ := created["id"].(string)
	hooks, _ := created["channels"].(map[string]any)["webhooks"].([]any)
	if len(hooks) != 1 {
		t.Fatalf("created %v", created)
	}
	secret, _ := hooks[0].(map[string]any)["secret"].(string)
	if secret == "" {
		t.Fatalf("the webhook's secret is not shown at creation: %v", hooks[0])
	}
	rig.hook.secret = secret

	rival := func(d string) string {
		return strings.Replace(strings.Replace(d, `"tenant_id":"acme"`, `"tenant_id":"rival"`, 1), "f0b012de", "0000aaaa", 1)
	}
	rig.publish(t,
		sampleEntryOf(t, "task-submitted.json", nil),
		sampleEntryOf(t, "label-submitted.json", nil),
		sampleEntryOf(t, "label-rejected.json", nil),
		sampleEntryOf(t, "label-rejected.json", nil), // published twice by its producer
		sampleEntryOf(t, "label-approved.json", nil), // not a trigger of the notification
		sampleEntryOf(t, "task-assigned.json", rival),
		sampleEntryOf(t, "label-submitted.json", func(string) string { return `{"schema_version":1,"tenant_id":"acme"}` }),
	)

	waitUntil(t, 20*time.Second, "three Slack messages and three webhook deliveries", func() bool {
		return len(rig.slack.Messages(qaGrant.ChannelID)) >= 3 && rig.hook.count() >= 3
	})
	// The three lines of each address usually share one 2-second window; on a loaded machine
	// they may straddle two, which sends two emails between them.
	waitUntil(t, 20*time.Second, "three updates emailed to each address", func() bool {
		msgs := rig.emails(t)
		return updatesIn(t, emailsTo(t, msgs, "lead@example.com")) >= 3 && updatesIn(t, emailsTo(t, msgs, "qa@example.com")) >= 3
	})
	time.Sleep(3 * time.Second) // a further window and retries: nothing more may arrive

	msgs := rig.slack.Messages(qaGrant.ChannelID)
	if len(msgs) != 3 {
		t.Fatalf("Slack got %d messages, want 3 (the duplicate, the other trigger, the rival's and the bad event send none)", len(msgs))
	}
	for _, m := range msgs {
		blocks := string(m.Blocks)
		if !strings.Contains(blocks, `"type":"header"`) || !strings.Contains(blocks, "alerts") || !strings.Contains(blocks, sampleProject) || m.Text == "" {
			t.Errorf("Slack message %s / %s", m.Text, blocks)
		}
	}
	ids := map[string]string{}
	for _, r := range rig.hook.requests() {
		if r.verifyErr != nil {
			t.Fatalf("a webhook delivery fails Standard Webhooks verification: %v", r.verifyErr)
		}
		var env map[string]any
		_ = json.Unmarshal(r.body, &env)
		if env["uid"] != r.header.Get("Webhook-Id") || env["source"] != "Encord" {
			t.Errorf("delivery %s: body uid %v, source %v", r.header.Get("Webhook-Id"), env["uid"], env["source"])
		}
		ids[r.header.Get("Webhook-Id")] = env["event_type"].(string)
	}
	var types []string
	for _, et := range ids {
		types = append(types, et)
	}
	slices.Sort(types)
	if strings.Join(types, ",") != "label_rejected_event,label_submitted_event,task_submitted_event" {
		t.Fatalf("webhook got event types %v (by webhook-id), want one each of three", types)
	}

	all := rig.emails(t)
	leads := emailsTo(t, all, "lead@example.com")
	for _, address := range []string{"lead@example.com", "qa@example.com"} {
		if got := updatesIn(t, emailsTo(t, all, address)); got != 3 {
			t.Fatalf("%s was emailed %d updates, want 3: one per trigger, the duplicate and the others sending none", address, got)
		}
	}
	qaEmails := len(emailsTo(t, all, "qa@example.com"))
	if len(all) != len(leads)+qaEmails {
		t.Fatalf("%d emails, to other addresses than the notification's", len(all))
	}
	lead := leads[0]
	unsubscribe := lead.Header.Get("List-Unsubscribe")
	if lead.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || !strings.HasPrefix(unsubscribe, "<"+rig.h.APIURL+"/v1/unsubscribe?token=") {
		t.Fatalf("unsubscribe headers %q, %q", unsubscribe, lead.Header.Get("List-Unsubscribe-Post"))
	}
	var body string
	for _, m := range leads {
		body += bodyOf(t, m)
	}
	for _, want := range []string{"text/plain", "text/html", "annotator@example.com", "reviewer@example.com"} {
		if !strings.Contains(body, want) {
			t.Errorf("email body lacks %q", want)
		}
	}

	// RFC 8058 one-click: a POST with List-Unsubscribe=One-Click, no login.
	link := strings.Trim(unsubscribe, "<>")
	res, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %d", res.StatusCode)
	}
	if res, _ := http.Post(strings.Replace(link, "token=", "token=x", 1), "application/x-www-form-urlencoded", nil); res.StatusCode != 400 {
		t.Fatalf("a forged unsubscribe link: %d, want 400", res.StatusCode)
	}
	_, n := rig.call(t, "GET", "/v1/notifications/"+notifID, nil)
	if emails := n["channels"].(map[string]any)["emails"]; len(emails.([]any)) != 1 || emails.([]any)[0] != "QA@example.com" {
		t.Fatalf("after unsubscribing lead@: emails %v", emails)
	}

	// Slack throttles: the post waits for Retry-After and arrives; then the channel is revoked.
	rig.slack.Throttle(qaGrant.ChannelID, "1")
	rig.publish(t, sampleEntryOf(t, "task-assigned.json", nil))
	time.Sleep(1500 * time.Millisecond)
	rig.slack.Restore(qaGrant.ChannelID)
	waitUntil(t, 20*time.Second, "the throttled message", func() bool { return len(rig.slack.Messages(qaGrant.ChannelID)) == 4 })
	// The channel's delivery log shows the 429 and then the post; redelivering the post that
	// landed posts nothing twice, since Slack cannot deduplicate.
	var throttled string
	waitUntil(t, 10*time.Second, "the Slack attempts in the channel's log", func() bool {
		_, log := rig.call(t, "GET", "/v1/slack/channels/"+rig.channel+"/attempts?limit=100", nil)
		items, _ := log["items"].([]any)
		codes := map[string][]float64{}
		for _, it := range items {
			a := it.(map[string]any)
			codes[a["delivery_id"].(string)] = append(codes[a["delivery_id"].(string)], a["status_code"].(float64))
		}
		for id, c := range codes {
			if len(c) >= 2 && c[0] == 200 && slices.Contains(c[1:], 429) { // newest first
				throttled = id
			}
		}
		return throttled != ""
	})
	if status, res := rig.call(t, "POST", "/v1/deliveries/"+throttled+"/redeliver", nil); status != http.StatusAccepted {
		t.Fatalf("redeliver the Slack post: %d %v", status, res)
	}
	time.Sleep(2 * time.Second)
	if n := len(rig.slack.Messages(qaGrant.ChannelID)); n != 4 {
		t.Fatalf("a redelivered Slack post was posted again: %d messages", n)
	}

	rig.slack.Revoke(qaGrant.ChannelID)
	rig.publish(t, sampleEntryOf(t, "label-edited.json", nil))
	waitUntil(t, 20*time.Second, "the revoked channel marked broken", func() bool {
		_, list := rig.call(t, "GET", "/v1/slack/channels", nil)
		items, _ := list["items"].([]any)
		return len(items) == 1 && items[0].(map[string]any)["status"] == "broken" &&
			strings.Contains(items[0].(map[string]any)["broken_reason"].(string), "404")
	})
	rig.slack.Restore(qaGrant.ChannelID)
	rig.publish(t, sampleEntryOf(t, "task-submitted.json", func(d string) string { return strings.Replace(d, "0c7e5a52", "1c7e5a52", 1) }))
	waitUntil(t, 20*time.Second, "the next email to the remaining address", func() bool {
		return len(emailsTo(t, rig.emails(t), "qa@example.com")) > qaEmails
	})
	if n := len(rig.slack.Messages(qaGrant.ChannelID)); n != 4 {
		t.Fatalf("a broken channel was posted to: %d messages", n)
	}
	if got := len(emailsTo(t, rig.emails(t), "lead@example.com")); got != len(leads) {
		t.Fatalf("the unsubscribed address got %d more emails", got-len(leads))
	}

	// The label events were recorded for digests: a submission made now shows in the preview.
	rig.publish(t, sampleEntryOf(t, "label-submitted.json", func(d string) string {
		return strings.Replace(d, "2024-03-25T15:18:50.112233+00:00", time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"), 1)
	}))
	waitUntil(t, 10*time.Second, "the submission in the digest preview", func() bool {
		_, p := rig.call(t, "GET", "/v1/notifications/"+notifID+"/digest-preview", nil)
		stats, _ := p["projects_stats"].([]any)
		if len(stats) == 0 {
			return false
		}
		annotators, _ := stats[0].(map[string]any)["annotator_stats"].([]any)
		return len(annotators) == 1 && annotators[0].(map[string]any)["submitted_labels"] == float64(1)
	})
}

var updatesInSubject = regexp.MustCompile(`Herald: (\d+) updates? from`)

// updatesIn sums the updates the emails' subjects count.
func updatesIn(t *testing.T, emails []*netmail.Message) int {
	t.Helper()
	n := 0
	for _, m := range emails {
		match := updatesInSubject.FindStringSubmatch(m.Header.Get("Subject"))
		if match == nil {
			t.Fatalf("subject %q counts no updates", m.Header.Get("Subject"))
		}
		k, _ := strconv.Atoi(match[1])
		n += k
	}
	return n
}
