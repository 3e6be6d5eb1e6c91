package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
	"github.com/heraldhq/herald/infra/lambdafn/mailerfn"
	"github.com/heraldhq/herald/infra/lambdafn/notifyfn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/slack"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/slackstandin"
	"github.com/heraldhq/herald/tests/standin"
)

// failingRecipients makes the SES client fail every SendEmail to the addresses it holds, as
// SES does for a recipient it will not take: fault injection in the SDK's stack, between
// Herald and the stand-in.
type failingRecipients struct {
	mu    sync.Mutex
	addrs []string
}

func (f *failingRecipients) set(addrs ...string) { f.mu.Lock(); f.addrs = addrs; f.mu.Unlock() }

func (f *failingRecipients) middleware(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("failRecipients", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if e, ok := in.Parameters.(*sesv2.SendEmailInput); ok && e.Destination != nil {
			f.mu.Lock()
			fail := slices.ContainsFunc(e.Destination.ToAddresses, func(a string) bool { return slices.Contains(f.addrs, a) })
			f.mu.Unlock()
			if fail {
				return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected: SES refused the connection")
			}
		}
		return next.HandleInitialize(ctx, in)
	}), middleware.Before)
}

// connectStandinChannel gets an incoming webhook from the Slack stand-in as the OAuth flow
// would (a code, then oauth.v2.access) and stores it as owner's channel.
func connectStandinChannel(t *testing.T, s *slackstandin.Server, store *dynamo.SlackChannels, tenant, owner string, g slackstandin.Grant) string {
	t.Helper()
	form := url.Values{"client_id": {notifySlackClientID}, "client_secret": {notifySlackSecret}, "code": {s.IssueCode(g)}}
	res, err := http.PostForm(s.APIURL()+"oauth.v2.access", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		OK              bool `json:"ok"`
		IncomingWebhook struct {
			URL string `json:"url"`
		} `json:"incoming_webhook"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || !out.OK {
		t.Fatalf("oauth.v2.access: %+v %v", out, err)
	}
	ch := slack.Channel{
		ID: slack.NewChannelID(tenant, owner, g.TeamID, g.ChannelID), TenantID: tenant, OwnerID: owner, TeamID: g.TeamID,
		TeamName: g.TeamName, ChannelID: g.ChannelID, ChannelName: g.ChannelName, WebhookURL: out.IncomingWebhook.URL, CreatedAt: time.Now().UTC(),
	}
	if err := store.SaveChannel(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	return ch.ID
}

// The spec's notification on the AWS adapters and the stand-ins (DynamoDB Local, SQS, SES v2):
// the notification router as EventBridge invokes it, the delivery function behind an event
// source poller, and the mailer fired twice at once as a schedule that fires twice would. The
// Slack stand-in gets the blocks, the webhook verifies with the Standard Webhooks library, each
// address gets one email per window, read back from the SES stand-in's store with its
// unsubscribe headers; one recipient whose sends fail gets its email in a later window.
func TestNotificationsOnTheStandIns(t *testing.T) {
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 20 * time.Second})
	cfg := b.Config(t, "1s,1s,1s")
	cfg.MailTable = b.MailTable
	cfg.AttemptTimeout = 3 * time.Second
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	counts := telemetry.NewMemory()
	admin := b.Admin()
	store := dynamo.NewWebhookStore(admin.DynamoDB, b.WebhooksTable)
	channels := dynamo.NewSlackChannels(admin.DynamoDB, b.WebhooksTable)
	slackSrv := slackstandin.New(t, slackstandin.Config{ClientID: notifySlackClientID, ClientSecret: notifySlackSecret, RedirectURL: notifySlackRedirectURL})
	hook := newReceiver(t, nil)

	notify, err := notifyfn.New(cfg, b.Clients(nil), counts, logger)
	if err != nil {
		t.Fatal(err)
	}
	clients := b.Clients(nil)
	deliver, err := deliveryfn.Over(cfg, deliveryfn.Ports{
		Endpoints: dynamo.NewWebhookStore(clients.DynamoDB, b.WebhooksTable), SlackChannels: dynamo.NewSlackChannels(clients.DynamoDB, b.WebhooksTable),
		Log:            dynamo.NewAttemptLog(clients.DynamoDB, b.AttemptsTable, 0),
		PostClaims:     idempotency.PostClaims{Store: dynamo.NewIdempotency(clients.DynamoDB, b.AttemptsTable, deliveryfn.SlackPostLease)},
		Queue:          sqsqueue.New(clients.SQS, b.QueueURL, b.DLQURL),
		SlackURLPrefix: slackSrv.WebhookPrefix(),
	}, counts, logger)
	if err != nil {
		t.Fatal(err)
	}
	poller := &eventsource.Poller{Source: sqsqueue.New(clients.SQS, b.QueueURL, b.DLQURL), QueueARN: b.QueueARN,
		Handler: deliver.Handle, BatchSize: 10, WaitTime: time.Second, Logger: logger}
	failing := &failingRecipients{}
	mailer, err := mailerfn.Over(lambdafn.MailConfig{
		From: "Herald <noreply@herald.example>", Interval: 2 * time.Second, Rate: 50,
		UnsubscribeKey: "0123456789abcdef0123456789abcdef", PublicAPIURL: "https://api.herald.example",
	}, mailerfn.Ports{
		Store:  dynamo.NewMailLines(clients.DynamoDB, b.MailTable),
		Sender: sesmail.New(standin.SESv2(t, func(o *sesv2.Options) { o.APIOptions = append(o.APIOptions, failing.middleware) }), sesmail.Options{}),
	}, counts, logger)
	if err != nil {
		t.Fatal(err)
	}

	channelID := connectStandinChannel(t, slackSrv, channels, sampleTenant, "alice", qaGrant)
	lead, qa := standin.UniqueName("lead")+"@example.com", standin.UniqueName("qa")+"@example.com"
	wh := contract.NewNotificationWebhook(t, "nwh_qa", hook.url())
	hook.secret = wh.Secrets[0]
	n := contract.NewNotification(t, sampleTenant, "ntf_qa", "alice", "QA alerts", wh)
	n.Projects = []string{sampleProject}
	n.Channels.SlackChannels, n.Channels.Emails = []string{channelID}, []string{lead, qa}
	n.Triggers.Events = []notifications.EventType{notifications.TaskSubmitted, notifications.LabelRejected}
	if err := store.CreateNotification(context.Background(), n); err != nil {
		t.Fatal(err)
	}

	invoke := func(sample string, edit func(string) string) error {
		raw, err := samples.Read(sample)
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		if edit != nil {
			s = edit(s)
		}
		var ev events.EventBridgeEvent
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			t.Fatal(err)
		}
		return notify.Handle(context.Background(), ev)
	}
	for _, sample := range []string{"router/task-submitted.json", "notify/label-rejected.json", "notify/label-rejected.json", "notify/label-approved.json"} {
		if err := invoke(sample, nil); err != nil {
			t.Fatalf("%s: %v", sample, err)
		}
	}
	if err := invoke("notify/label-rejected.json", func(s string) string { return asRival(t, s) }); err != nil {
		t.Fatal(err)
	}
	if err := invoke("notify-rejected/reviewed-bad-outcome.json", nil); err != nil {
		t.Fatalf("a bad event must be rejected without an error: %v", err)
	}
	if counts.Get(telemetry.EventsRejected, "schema_violation") != 1 {
		t.Fatalf("rejections counted: %v", counts.Dimensions(telemetry.EventsRejected))
	}

	deadline := time.Now().Add(30 * time.Second)
	for (len(slackSrv.Messages(qaGrant.ChannelID)) < 2 || hook.count() < 2) && time.Now().Before(deadline) {
		if _, err := poller.PollOnce(context.Background()); err != nil {
			t.Logf("poll: %v", err)
		}
	}
	for range 3 { // anything left (a duplicate) has its chance to be posted wrongly
		_, _ = poller.PollOnce(context.Background())
	}
	if got := len(slackSrv.Messages(qaGrant.ChannelID)); got != 2 {
		t.Fatalf("Slack got %d messages, want 2: task_submitted and one label_rejected", got)
	}
	ids := map[string]bool{}
	for _, r := range hook.requests() {
		if r.verifyErr != nil {
			t.Fatalf("Standard Webhooks verification: %v", r.verifyErr)
		}
		ids[r.header.Get("Webhook-Id")] = true
	}
	if len(ids) != 2 {
		t.Fatalf("webhook got %d distinct deliveries, want 2", len(ids))
	}

	// The schedule fires twice at once: one email per address, the failing one none.
	failing.set(qa)
	runMailerTwice := func() {
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if err := mailer.Handle(context.Background(), events.EventBridgeEvent{}); err != nil {
					t.Errorf("mailer run: %v", err)
				}
			})
		}
		wg.Wait()
	}
	runMailerTwice()
	sentTo := func(addr string) []contract.ReceivedMail {
		var out []contract.ReceivedMail
		for _, m := range standin.SentEmails(t) {
			if slices.Contains(m.Destination.To, addr) {
				out = append(out, contract.ReceivedMail{Subject: m.Subject, Text: m.Body.Text, HTML: m.Body.HTML, Headers: headersOf(m)})
			}
		}
		return out
	}
	got := sentTo(lead)
	if len(got) != 1 {
		t.Fatalf("%s got %d emails from two runs of one window, want 1", lead, len(got))
	}
	m := got[0]
	if !strings.Contains(m.Subject, "2 updates") || !strings.Contains(m.Text, "annotator@example.com") || !strings.Contains(m.HTML, "<table") ||
		m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" || !strings.HasPrefix(m.Headers["List-Unsubscribe"], "<https://api.herald.example/v1/unsubscribe?token=") {
		t.Fatalf("email %+v", m)
	}
	if n := len(sentTo(qa)); n != 0 {
		t.Fatalf("the failing recipient got %d emails", n)
	}

	// Next window: SES takes the recipient again, who gets the lines that waited; the other
	// address has nothing new and gets nothing.
	failing.set()
	time.Sleep(2 * time.Second)
	runMailerTwice()
	if got := sentTo(qa); len(got) != 1 || !strings.Contains(got[0].Subject, "2 updates") {
		t.Fatalf("after recovery %s got %+v, want one email with both updates", qa, got)
	}
	if n := len(sentTo(lead)); n != 1 {
		t.Fatalf("%s got %d emails, want still 1", lead, n)
	}
}

func headersOf(m standin.SentEmail) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Name] = h.Value
	}
	return out
}
