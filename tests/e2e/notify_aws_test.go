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
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
	"github.com/heraldhq/herald/infra/lambdafn/mailerfn"
	"github.com/heraldhq/herald/infra/lambdafn/notifyfn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/inbound"
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

// lambdaAPI calls the API function's Lambda handler as API Gateway's HTTP API does, as user
// of tenant with the claims its JWT authorizer would have verified (none when tenant is
// empty, as on the public unsubscribe routes), and decodes a JSON answer.
func lambdaAPI(t *testing.T, handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error),
	tenant, user string) func(method, path string, body any) (int, map[string]any) {
	return func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		u, err := url.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		req := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: method + " " + u.Path, RawPath: u.Path, RawQueryString: u.RawQuery,
			Headers: map[string]string{"content-type": "application/json"},
		}
		if body != nil {
			raw, _ := json.Marshal(body)
			req.Body = string(raw)
		}
		req.RequestContext.HTTP.Method, req.RequestContext.HTTP.Path = method, u.Path
		req.RequestContext.DomainName = "api.herald.example"
		if tenant != "" {
			req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{"org_id": tenant, "sub": user, "iss": "https://auth.example.com/"},
				},
			}
		}
		res, err := handler(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.Unmarshal([]byte(res.Body), &out)
		return res.StatusCode, out
	}
}

// The spec's notification on the AWS adapters and the stand-ins (DynamoDB Local, SQS, SES v2),
// configured through the API function as API Gateway invokes it (Slack connected through the
// OAuth flow): the notification router as EventBridge invokes it, the delivery function behind
// an event source poller, and the mailer fired twice at once as a schedule that fires twice
// would. The Slack stand-in gets the blocks, the webhook verifies with the Standard Webhooks
// library, each address gets one email per window, read back from the SES stand-in's store
// with its unsubscribe headers; one recipient whose sends fail gets its email in a later
// window; the one-click unsubscribe link, served without a login, takes an address off.
func TestNotificationsOnTheStandIns(t *testing.T) {
	rig := newAWSRig(t)
	b, alice, public, slackSrv, counts := rig.b, rig.alice, rig.public, rig.slack, rig.counts
	hook := newReceiver(t, nil)
	clients := b.Clients(nil)
	failing := &failingRecipients{}
	mailer, err := mailerfn.Over(lambdafn.MailConfig{
		From: "Herald <noreply@herald.example>", Interval: 2 * time.Second, Rate: 50,
		UnsubscribeKey: rig.unsubscribeKey, PublicAPIURL: "https://api.herald.example",
	}, mailerfn.Ports{
		Store:  dynamo.NewMailLines(clients.DynamoDB, b.MailTable),
		Sender: sesmail.New(standin.SESv2(t, func(o *sesv2.Options) { o.APIOptions = append(o.APIOptions, failing.middleware) }), sesmail.Options{}),
	}, counts, rig.logger)
	if err != nil {
		t.Fatal(err)
	}

	// The spec's notification, configured through the API function as a user would.
	channelID := rig.channelID
	lead, qa := standin.UniqueName("lead")+"@example.com", standin.UniqueName("qa")+"@example.com"
	status, n := alice("POST", "/v1/notifications", map[string]any{
		"title": "QA alerts", "description": "Rejected labels and submitted tasks", "projects": []string{sampleProject},
		"channels": map[string]any{"slack_channels": []string{channelID}, "emails": []string{lead, qa}, "webhooks": []any{map[string]string{"url": hook.url()}}},
		"triggers": map[string]any{"events": []string{"task_submitted", "label_rejected"}},
	})
	if status != http.StatusCreated {
		t.Fatalf("create the notification: %d %v", status, n)
	}
	notificationID := n["id"].(string)
	hook.secret = n["channels"].(map[string]any)["webhooks"].([]any)[0].(map[string]any)["secret"].(string)

	invoke := func(sample string, edit func(string) string) error { return rig.publish(t, sample, edit) }
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
	// The rejected event is kept for the Events page, under the tenant it names, with the
	// field; the routed ones are in the delivery log, and cost no write here.
	kept, err := dynamo.NewInbound(clients.DynamoDB, b.AttemptsTable).ListInbound(context.Background(), sampleTenant, inbound.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.Items) != 1 || kept.Items[0].Outcome != inbound.Rejected || kept.Items[0].Reason != "schema_violation" || !strings.Contains(kept.Items[0].Detail, "outcome") {
		t.Fatalf("kept for %s: %+v; want the one rejected event", sampleTenant, kept.Items)
	}

	rig.pollUntil(t, 30*time.Second, func() bool { return len(slackSrv.Messages(qaGrant.ChannelID)) >= 2 && hook.count() >= 2 })
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
	runMailerTwice := func() { fireTwiceAtOnce(t, "mailer run", mailer.Handle) }
	runMailerTwice()
	sentTo := func(addr string) []contract.ReceivedMail { return sentTo(t, addr) }
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

	// One-click unsubscribe from lead's email, without a login: lead leaves the notification,
	// and the next window mails only qa.
	link, err := url.Parse(strings.Trim(m.Headers["List-Unsubscribe"], "<>"))
	if err != nil {
		t.Fatal(err)
	}
	if status, res := public("POST", link.RequestURI(), nil); status != http.StatusOK {
		t.Fatalf("one-click unsubscribe: %d %v", status, res)
	}
	_, n = alice("GET", "/v1/notifications/"+notificationID, nil)
	if emails := n["channels"].(map[string]any)["emails"].([]any); len(emails) != 1 || emails[0] != qa {
		t.Fatalf("after unsubscribing %s: emails %v", lead, emails)
	}
	if err := invoke("router/task-submitted.json", func(s string) string { return strings.Replace(s, "0c7e5a52", "2c7e5a52", 1) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	runMailerTwice()
	if n := len(sentTo(lead)); n != 1 {
		t.Fatalf("the unsubscribed %s got %d emails", lead, n)
	}
	if got := sentTo(qa); len(got) != 2 || !strings.Contains(got[1].Subject, "1 update") {
		t.Fatalf("%s got %+v, want a second email with the new update", qa, got)
	}
}

func headersOf(m standin.SentEmail) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Name] = h.Value
	}
	return out
}

// awsRig is Herald's functions on the AWS adapters and the stand-ins (DynamoDB Local, SQS,
// SES v2), with Slack's stand-in connected: the API function as API Gateway invokes it, the
// notify function as EventBridge does, and the delivery function behind an event source
// poller.
type awsRig struct {
	b              *awsfixture.Backend
	cfg            lambdafn.Config
	logger         *slog.Logger
	counts         *telemetry.Memory
	slack          *slackstandin.Server
	alice, public  func(method, path string, body any) (int, map[string]any)
	notify         *notifyfn.Handler
	poller         *eventsource.Poller
	channelID      string
	unsubscribeKey string
}

func newAWSRig(t *testing.T) *awsRig {
	t.Helper()
	r := &awsRig{b: awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 20 * time.Second}), unsubscribeKey: "0123456789abcdef0123456789abcdef"}
	b := r.b
	r.cfg = b.Config(t, "1s,1s,1s")
	r.cfg.MailTable = b.MailTable
	r.cfg.AttemptTimeout = 3 * time.Second
	r.cfg.JWTTenantClaim = "org_id"
	r.logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r.counts = telemetry.NewMemory()
	r.slack = slackstandin.New(t, slackstandin.Config{ClientID: notifySlackClientID, ClientSecret: notifySlackSecret, RedirectURL: notifySlackRedirectURL})
	api, err := apifn.New(r.cfg, b.Clients(nil), r.logger, apifn.WithUnsubscribeKey(r.unsubscribeKey), apifn.WithSlack(lambdafn.SlackConfig{
		ClientID: notifySlackClientID, ClientSecret: notifySlackSecret, RedirectURL: notifySlackRedirectURL,
		StateKey:     "0123456789abcdef0123456789abcdef",
		AuthorizeURL: r.slack.AuthorizeURL(), APIURL: r.slack.APIURL(), WebhookURLPrefix: r.slack.WebhookPrefix(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	r.alice, r.public = lambdaAPI(t, api, sampleTenant, "alice"), lambdaAPI(t, api, "", "")
	if r.notify, err = notifyfn.New(r.cfg, b.Clients(nil), r.counts, r.logger); err != nil {
		t.Fatal(err)
	}
	clients := b.Clients(nil)
	// The delivery function's own wiring (deliveryfn.New's), with the Slack stand-in's
	// webhook prefix in place of Slack's.
	ports := deliveryfn.AWSPorts(r.cfg, clients)
	ports.SlackURLPrefix = r.slack.WebhookPrefix()
	deliver, err := deliveryfn.Over(r.cfg, ports, r.counts, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	r.poller = &eventsource.Poller{Source: sqsqueue.New(clients.SQS, b.QueueURL, b.DLQURL), QueueARN: b.QueueARN,
		Handler: deliver.Handle, BatchSize: 10, WaitTime: time.Second, Logger: r.logger}
	r.channelID = connectSlackThroughAPI(t, r.slack, func(method, path string) (int, map[string]any) { return r.alice(method, path, nil) }, qaGrant)
	return r
}

// publish hands a sample event, edited, to the notify function as EventBridge would.
func (r *awsRig) publish(t *testing.T, sample string, edit func(string) string) error {
	t.Helper()
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
	return r.notify.Handle(context.Background(), ev)
}

// pollUntil runs the delivery function until done, then a few more times so that anything
// left (a duplicate) has its chance to be delivered wrongly.
func (r *awsRig) pollUntil(t *testing.T, within time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() && time.Now().Before(deadline) {
		if _, err := r.poller.PollOnce(context.Background()); err != nil {
			t.Logf("poll: %v", err)
		}
	}
	for range 3 {
		_, _ = r.poller.PollOnce(context.Background())
	}
}

// sentTo reads back from the SES stand-in's store what addr was sent.
func sentTo(t *testing.T, addr string) []contract.ReceivedMail {
	t.Helper()
	var out []contract.ReceivedMail
	for _, m := range standin.SentEmails(t) {
		if slices.Contains(m.Destination.To, addr) {
			out = append(out, contract.ReceivedMail{Subject: m.Subject, Text: m.Body.Text, HTML: m.Body.HTML, Headers: headersOf(m)})
		}
	}
	return out
}

// fireTwiceAtOnce invokes a scheduled function twice concurrently, as a schedule that fires
// twice does.
func fireTwiceAtOnce(t *testing.T, what string, handle func(context.Context, events.EventBridgeEvent) error) {
	t.Helper()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := handle(context.Background(), events.EventBridgeEvent{}); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		})
	}
	wg.Wait()
}
