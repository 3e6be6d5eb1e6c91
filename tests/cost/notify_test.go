package cost_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
	"github.com/heraldhq/herald/infra/lambdafn/digestfn"
	"github.com/heraldhq/herald/infra/lambdafn/mailerfn"
	"github.com/heraldhq/herald/infra/lambdafn/notifyfn"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/infra/slackoauth"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/cost"
	"github.com/heraldhq/herald/tests/slackstandin"
	"github.com/heraldhq/herald/tests/standin"
)

// The notification workloads' shape. Each number is an assumption a reader of the table needs,
// so the table's title repeats it.
const (
	// recipients are the email addresses of a notification: a lead and a QA inbox.
	recipients = 2
	// busyEventsPerWindow is a project in full swing, an event every 30 s: each email then
	// carries ten lines. The quiet workload has one event per window, an email per event and
	// address, SES's worst case.
	busyEventsPerWindow = 10
	// digestsPerRun is how many digests fall due in the same minute, and so go out in one run
	// of the digest function: notifications at round times of day bunch up.
	digestsPerRun = 10
	// activityPerDigest is the label activity (submissions and reviews) of a digest's one
	// project over its 24-hour period, which the digest function reads back.
	activityPerDigest = 20
	// digestTargets are the deliveries of one digest: its webhook, its Slack channel and an
	// email per address.
	digestTargets = 2 + recipients
	// The schedules of template.yaml: the mailer every 5 minutes (EmailSchedule's default,
	// which runIdle checks), the digest function every minute; a 30-day month has this many
	// 5-minute periods.
	mailerInterval         = 5 * time.Minute
	digestRunsPerMailerRun = 5
	periodsPerMonth        = 30 * 24 * 12
)

// notificationCeiling bounds a million notification events besides SES, as ceiling bounds a
// million deliveries: an event writes an email line per address (a transaction of two items
// each), and in a quiet window the mailer's run, its claims and marks are the event's alone.
const notificationCeiling = 50.0

const (
	sampleOwner    = "alice"
	unsubscribeKey = "cost-meter-unsubscribe-key-0123456789"
	slackStateKey  = "cost-meter-slack-state-key-0123456789"
	slackClientID  = "1111.2222"
	slackSecret    = "cost-meter-slack-secret"
	slackRedirect  = "https://api.herald.example/v1/slack/oauth/callback"
)

// The sample Label Reviewed event's identifiers, rewritten per event.
const (
	sampleReviewID       = "8b2d0f3c-4e5a-4b6c-9d7e-1f2a3b4c5d6f"
	sampleReviewOccurred = "2024-03-25T15:31:40.250000+00:00"
)

var slackGrant = slackstandin.Grant{TeamID: "T0ACME", TeamName: "Acme", ChannelID: "C0QA", ChannelName: "#qa", UserID: "U0ALICE"}

// lambdaFn is one Lambda function under the meter: its template spec and its metric writer,
// flushed after each invocation as lambdafn.Main flushes it.
type lambdaFn struct {
	meter   *cost.Function
	spec    cost.Spec
	metrics *lambdafn.EMF
}

func newLambdaFn(t *testing.T, tmpl *samtemplate.Template, logicalID, name string) *lambdaFn {
	t.Helper()
	spec, err := cost.SpecOf(tmpl, logicalID)
	if err != nil {
		t.Fatal(err)
	}
	meter := cost.NewFunction(name, spec.MemoryMB)
	return &lambdaFn{meter: meter, spec: spec, metrics: lambdafn.NewEMF(meter.MetricsOut())}
}

func (l *lambdaFn) logger() *slog.Logger { return l.meter.Logger(l.spec.LogLevel) }

func (l *lambdaFn) metered() cost.Metered { return cost.Metered{Fn: l.meter, Spec: &l.spec} }

// invoke runs one billed invocation.
func (l *lambdaFn) invoke(run func() error) error {
	var err error
	l.meter.Invoke(func() { err = run(); l.metrics.Flush() })
	return err
}

// scheduled is the event a schedule rule hands a function; the handlers ignore it.
var scheduled = events.EventBridgeEvent{DetailType: "Scheduled Event", Source: "aws.events"}

// notifyWorld is the notification path on the stand-ins: the notify, mailer, digest and
// delivery functions built by their lambdafn packages as their mains build them, each with a
// meter on its clients, logger, metrics and invocations, and Slack's stand-in with one
// channel connected through the "Add to Slack" flow. The mailer's and the digest function's
// clocks are the test's, so that a workload runs a day's windows in seconds.
type notifyWorld struct {
	b         *awsfixture.Backend
	admin     *dynamo.WebhookStore
	slack     *slackstandin.Server
	channelID string

	notifyFn, mailerFn, digestFn, deliveryFn *lambdaFn
	sourceFn                                 *cost.Function

	notify    *notifyfn.Handler
	mailer    *mailerfn.Handler
	digest    *digestfn.Handler
	poller    *eventsource.Poller
	mailClock time.Time
	dueClock  time.Time
}

func newNotifyWorld(t *testing.T) *notifyWorld {
	t.Helper()
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	sesEndpoint := standin.Endpoint(t, "ses")
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 30 * time.Second})
	w := &notifyWorld{b: b, admin: dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)}
	ttl, err := time.ParseDuration(fmt.Sprint(tmpl.Parameters()["ConfigCacheTTL"].Default))
	if err != nil {
		t.Fatalf("ConfigCacheTTL default of template.yaml: %v", err)
	}
	cfg := b.Config(t, "")
	cfg.ConfigCacheTTL = ttl
	mailCfg, err := templateMailConfig(tmpl)
	if err != nil {
		t.Fatal(err)
	}

	w.slack = slackstandin.New(t, slackstandin.Config{ClientID: slackClientID, ClientSecret: slackSecret, RedirectURL: slackRedirect})
	w.channelID = w.connectSlack(t)

	w.notifyFn = newLambdaFn(t, tmpl, "NotifyFunction", "notify")
	w.mailerFn = newLambdaFn(t, tmpl, "MailerFunction", "mailer")
	w.digestFn = newLambdaFn(t, tmpl, "DigestFunction", "digest")
	w.deliveryFn = newLambdaFn(t, tmpl, "DeliveryFunction", "delivery")
	w.sourceFn = cost.NewFunction("event source mapping", 0)

	// The mailer and the digest function build their SES client from clients.AWS, as on
	// Lambda; here its endpoint is the SES stand-in (the fixture's points at EventBridge's).
	withSES := func(c lambdafn.Clients) lambdafn.Clients {
		c.AWS.BaseEndpoint = aws.String(sesEndpoint)
		return c
	}
	if w.notify, err = notifyfn.New(cfg, metered(b.Clients(nil), w.notifyFn.meter), w.notifyFn.metrics, w.notifyFn.logger()); err != nil {
		t.Fatal(err)
	}
	if w.mailer, err = mailerfn.New(cfg, mailCfg, withSES(metered(b.Clients(nil), w.mailerFn.meter)), w.mailerFn.metrics, w.mailerFn.logger()); err != nil {
		t.Fatal(err)
	}
	if w.digest, err = digestfn.New(cfg, mailCfg, withSES(metered(b.Clients(nil), w.digestFn.meter)), w.digestFn.metrics, w.digestFn.logger()); err != nil {
		t.Fatal(err)
	}
	w.mailClock, w.dueClock = time.Now(), time.Now()
	w.mailer.Mailer.Now = func() time.Time { return w.mailClock }
	w.digest.Dispatcher.Now = func() time.Time { return w.dueClock }
	delivery, err := newDelivery(cfg, metered(b.Clients(nil), w.deliveryFn.meter), w.slack.WebhookPrefix(), w.deliveryFn.metrics, w.deliveryFn.logger())
	if err != nil {
		t.Fatal(err)
	}
	w.poller = &eventsource.Poller{
		Source:   sqsqueue.New(metered(b.Clients(nil), w.sourceFn).SQS, b.QueueURL, b.DLQURL),
		QueueARN: b.QueueARN,
		Handler: func(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
			err = w.deliveryFn.invoke(func() (herr error) { resp, herr = delivery.Handle(ctx, ev); return herr })
			return resp, err
		},
		BatchSize: 10, WaitTime: time.Second, Logger: slog.New(slog.DiscardHandler),
	}
	return w
}

// templateMailConfig is the mail configuration the template gives the mailer and the digest
// function: its schedule and rate defaults, a sender of the MailFrom pattern, and the API's
// address for the unsubscribe links (their length is in every email).
func templateMailConfig(tmpl *samtemplate.Template) (lambdafn.MailConfig, error) {
	params := tmpl.Parameters()
	env := map[string]string{
		lambdafn.EnvMailFrom:       "noreply@herald.example",
		lambdafn.EnvEmailInterval:  fmt.Sprint(params["EmailSchedule"].Default),
		lambdafn.EnvEmailRate:      fmt.Sprint(params["EmailRate"].Default),
		lambdafn.EnvUnsubscribeKey: unsubscribeKey,
		lambdafn.EnvPublicAPIURL:   "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
	}
	cfg, err := lambdafn.LoadMailConfig(func(k string) string { return env[k] })
	if err != nil {
		return cfg, fmt.Errorf("mail configuration from template.yaml's defaults: %w", err)
	}
	return cfg, nil
}

// newDelivery wires the delivery function as deliveryfn.New does, with Slack's incoming
// webhooks at the stand-in (on Lambda they are Slack's own).
func newDelivery(cfg lambdafn.Config, c lambdafn.Clients, slackPrefix string, counter telemetry.Counter, logger *slog.Logger) (*deliveryfn.Handler, error) {
	if err := cfg.ValidateDelivery(); err != nil {
		return nil, fmt.Errorf("delivery configuration: %w", err)
	}
	ports := deliveryfn.AWSPorts(cfg, c)
	ports.SlackURLPrefix = slackPrefix
	h, err := deliveryfn.Over(cfg, ports, counter, logger)
	if err != nil {
		return nil, fmt.Errorf("wire the delivery function: %w", err)
	}
	return h, nil
}

// connectSlack runs the "Add to Slack" flow against the stand-in as the API function does
// (consent, code exchange, channel saved) and returns Herald's id of the channel.
func (w *notifyWorld) connectSlack(t *testing.T) string {
	t.Helper()
	flow, err := slackoauth.New(slackoauth.Config{
		ClientID: slackClientID, ClientSecret: slackSecret, RedirectURL: slackRedirect, StateKey: []byte(slackStateKey),
		AuthorizeURL: w.slack.AuthorizeURL(), APIURL: w.slack.APIURL(), WebhookURLPrefix: w.slack.WebhookPrefix(),
		HTTPClient: outbound.NewClient(outbound.Options{AllowLoopback: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	start, err := flow.StartURL(sampleTenant, sampleOwner)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ch, err := flow.Callback(ctx, sampleTenant, sampleOwner, w.slack.IssueCode(slackGrant), u.Query().Get("state"))
	if err != nil {
		t.Fatalf("connect the Slack stand-in: %v", err)
	}
	if err := dynamo.NewSlackChannels(w.b.Admin().DynamoDB, w.b.WebhooksTable).SaveChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	return ch.ID
}

// createNotification stores n as the sample tenant's owner's and returns it as stored.
func (w *notifyWorld) createNotification(t *testing.T, n notifications.Notification) notifications.Notification {
	t.Helper()
	n.TenantID, n.OwnerID = sampleTenant, sampleOwner
	now := time.Now().UTC().Truncate(time.Millisecond)
	n.Version, n.CreatedAt, n.UpdatedAt = 1, now, now
	if err := w.admin.CreateNotification(context.Background(), n); err != nil {
		t.Fatalf("create notification %s: %v", n.ID, err)
	}
	return n
}

// event is the i-th inbound event of the notification workload: task submissions and label
// rejections in turn, each with its own id and time, in compact JSON as a producer puts it.
func event(t *testing.T, i int, at time.Time) events.EventBridgeEvent {
	t.Helper()
	sample, id, occurred := "router/task-submitted.json", sampleEventID, sampleOccurred
	if i%2 == 1 {
		sample, id, occurred = "notify/label-rejected.json", sampleReviewID, sampleReviewOccurred
	}
	raw, err := samples.Read(sample)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte(id), fmt.Appendf(nil, "0c057000-0000-4000-8000-%012d", i), 1)
	raw = bytes.Replace(raw, []byte(occurred), []byte(at.UTC().Format("2006-01-02T15:04:05.000000+00:00")), 1)
	return eventOf(t, raw)
}

// pollUntil runs the event source mapping until done reports true.
func (w *notifyWorld) pollUntil(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not done within %s", what, within)
		}
		if _, err := w.poller.PollOnce(context.Background()); err != nil {
			t.Logf("poll: %v", err)
		}
	}
}

func (w *notifyWorld) slackPosts() int { return len(w.slack.Messages(slackGrant.ChannelID)) }

// sentTo counts what the SES stand-in's store holds for an address, and how many of those
// have the subject part want.
func sentTo(t *testing.T, addr, want string) (all, matching int) {
	t.Helper()
	for _, m := range standin.SentEmails(t) {
		if slices.Contains(m.Destination.To, addr) {
			all++
			if strings.Contains(m.Subject, want) {
				matching++
			}
		}
	}
	return all, matching
}

// runNotifications: a notification of one project with a Slack channel and two addresses,
// on task_submitted and label_rejected. Events arrive perWindow to a 5-minute email window;
// after each window the delivery function posts the window's Slack messages and the mailer's
// scheduled run sends each address one email with the window's lines. The bill is per
// million notification events.
func runNotifications(t *testing.T, prices cost.Prices, name string, windows, perWindow int) cost.Bill {
	w := newNotifyWorld(t)
	lead, qa := standin.UniqueName("lead")+"@example.com", standin.UniqueName("qa")+"@example.com"
	w.createNotification(t, notifications.Notification{
		ID: "ntf_qa_alerts", Title: "QA alerts", Projects: []string{sampleProject},
		Channels: notifications.Channels{SlackChannels: []string{w.channelID}, Emails: []string{lead, qa}},
		Triggers: notifications.Triggers{Events: []notifications.EventType{notifications.TaskSubmitted, notifications.LabelRejected}},
	})
	interval := w.mailer.Mailer.Interval
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	for win := range windows {
		for e := range perWindow {
			i := win*perWindow + e
			ev := event(t, i, start.Add(time.Duration(i)*time.Millisecond))
			w.notifyFn.meter.AddEvents(cost.EventChunks(cost.EventSize(ev.Source, ev.DetailType, ev.Detail, ev.Resources)))
			if err := w.notifyFn.invoke(func() error { return w.notify.Handle(ctx, ev) }); err != nil {
				t.Fatalf("notify event %d: %v", i, err)
			}
		}
		posted := (win + 1) * perWindow
		w.pollUntil(t, time.Minute, "the window's Slack posts", func() bool { return w.slackPosts() >= posted })
		w.mailClock = w.mailClock.Add(interval)
		if err := w.mailerFn.invoke(func() error { return w.mailer.Handle(ctx, scheduled) }); err != nil {
			t.Fatalf("mailer run %d: %v", win, err)
		}
	}
	inbound := windows * perWindow
	if got := w.slackPosts(); got != inbound {
		t.Errorf("Slack got %d posts for %d events, want one each", got, inbound)
	}
	subject := fmt.Sprintf("%d update", perWindow)
	for _, addr := range []string{lead, qa} {
		if all, matching := sentTo(t, addr, subject); all != windows || matching != windows {
			t.Errorf("%s got %d emails (%d with %q in the subject), want one per window, %d", addr, all, matching, subject, windows)
		}
	}
	fns := []*lambdaFn{w.notifyFn, w.deliveryFn, w.mailerFn}
	bill := w.price(t, prices, cost.Workload{Name: name, Unit: "notification events", Count: inbound, Per: 1e6, SlackPosts: w.slackPosts()}, fns)

	n, m, d := w.notifyFn.meter.Usage(), w.mailerFn.meter.Usage(), w.deliveryFn.meter.Usage()
	if n.Invocations != inbound || n.Events != inbound || n.SQSRequests <= 0 || n.TableUnits[w.b.MailTable] <= 0 || n.TableUnits[w.b.ActivityTable] <= 0 || n.ReadUnits <= 0 {
		t.Errorf("notify usage %s: want an invocation and an event per event, the Slack jobs sent, the email lines and the reviews' activity written, the notifications read", n)
	}
	if m.Invocations != windows || m.SESEmails != windows*recipients || m.TableUnits[w.b.MailTable] <= 0 || m.WriteUnits <= 0 || m.LogBytes <= 0 {
		t.Errorf("mailer usage %s: want %d runs and %d SES emails, the mail table read and written", m, windows, windows*recipients)
	}
	if d.Invocations <= 0 || d.WriteUnits < float64(inbound) {
		t.Errorf("delivery usage %s: want an attempt record (at least a write unit) per Slack post", d)
	}
	checkExtras(t, bill, windows*recipients, inbound, notificationCeiling)
	return bill
}

// runDigests: notifications of a project each, with a daily digest (24 h) at a time of day
// in UTC, to a digest_event webhook, the Slack channel and two addresses; digestsPerRun of
// them fall due in each minute. The digest function runs once a minute at the test's clock,
// then the delivery function delivers the webhooks' digest_events and the Slack posts. The
// bill is per million digest deliveries: a digest to its webhook, channel or one address.
func runDigests(t *testing.T, prices cost.Prices, name string, runs int) cost.Bill {
	w := newNotifyWorld(t)
	r := newReceiver(t)
	ctx := context.Background()
	lead, qa := standin.UniqueName("lead")+"@example.com", standin.UniqueName("qa")+"@example.com"
	// The first digests fall due two minutes from now, so that planning them now puts them
	// today and the period before them holds the activity written below.
	base := time.Now().UTC().Truncate(time.Minute).Add(2 * time.Minute)
	activity := dynamo.NewActivity(w.b.Admin().DynamoDB, w.b.ActivityTable)
	schedules := dynamo.NewSchedules(w.b.Admin().DynamoDB, w.b.WebhooksTable)
	digests := runs * digestsPerRun
	for i := range digests {
		due := base.Add(time.Duration(i/digestsPerRun) * time.Minute)
		n := notifications.Notification{
			ID: fmt.Sprintf("ntf_digest_%04d", i), Title: "Daily QA", Projects: []string{project(i)},
			Channels: notifications.Channels{
				SlackChannels: []string{w.channelID}, Emails: []string{lead, qa},
				Webhooks: []notifications.Webhook{contract.NewNotificationWebhook(t, fmt.Sprintf("nwh_digest_%04d", i), r.url(fmt.Sprint(i)))},
			},
			Triggers: notifications.Triggers{Digests: []notifications.Digest{{TimesOfDay: []string{due.Format("15:04")}, TimeZone: "UTC", Period: 24 * time.Hour}}},
		}
		n = w.createNotification(t, n)
		// As the API does when it stores a notification with digests.
		plan, err := digest.Plan(n, digest.Schedule{}, time.Now())
		if err != nil || !plan.NextDue.Equal(due) {
			t.Fatalf("plan of %s: %+v, %v; want it due at %s", n.ID, plan, err, due)
		}
		if err := schedules.PutSchedule(ctx, plan); err != nil {
			t.Fatal(err)
		}
		if err := activity.RecordActivity(ctx, projectActivity(i, due)); err != nil {
			t.Fatal(err)
		}
	}
	for run := range runs {
		w.dueClock = base.Add(time.Duration(run)*time.Minute + 30*time.Second)
		if err := w.digestFn.invoke(func() error { return w.digest.Handle(ctx, scheduled) }); err != nil {
			t.Fatalf("digest run %d: %v", run, err)
		}
	}
	w.pollUntil(t, 2*time.Minute, "the digests' webhook deliveries and Slack posts", func() bool {
		return r.count() >= digests && w.slackPosts() >= digests
	})
	if requests, ids := r.totals(); requests != digests || ids != digests || w.slackPosts() != digests {
		t.Errorf("webhooks got %d requests with %d webhook-ids and Slack %d posts, want one each of %d digests", requests, ids, w.slackPosts(), digests)
	}
	for _, addr := range []string{lead, qa} {
		if all, matching := sentTo(t, addr, "Herald digest: "); all != digests || matching != digests {
			t.Errorf("%s got %d emails (%d digests), want %d digests", addr, all, matching, digests)
		}
	}
	deliveries := digests * digestTargets
	fns := []*lambdaFn{w.digestFn, w.deliveryFn}
	bill := w.price(t, prices, cost.Workload{Name: name, Unit: "digest deliveries", Count: deliveries, Per: 1e6, SlackPosts: w.slackPosts()}, fns)

	g, d := w.digestFn.meter.Usage(), w.deliveryFn.meter.Usage()
	if g.Invocations != runs || g.SESEmails != digests*recipients || g.SQSRequests <= 0 || g.TableUnits[w.b.ActivityTable] <= 0 ||
		g.TableUnits[w.b.WebhooksTable] <= 0 || g.TableUnits[w.b.AttemptsTable] <= 0 {
		t.Errorf("digest usage %s: want %d runs, %d SES emails, the jobs sent, the activity, schedules and notifications read, the email claims written", g, runs, digests*recipients)
	}
	if d.Invocations <= 0 || d.WriteUnits < float64(2*digests) || d.TableUnits[w.b.AttemptsTable] <= 0 {
		t.Errorf("delivery usage %s: want an attempt record per webhook delivery and Slack post", d)
	}
	checkExtras(t, bill, digests*recipients, digests, ceiling)
	return bill
}

// projectActivity is a busy project's day before a digest: submissions by three annotators,
// reviews by two reviewers, one in four a rejection.
func projectActivity(i int, due time.Time) []digest.Activity {
	out := make([]digest.Activity, 0, activityPerDigest)
	for a := range activityPerDigest {
		rec := digest.Activity{
			ID: fmt.Sprintf("act-%04d-%02d", i, a), TenantID: sampleTenant, ProjectHash: project(i),
			At:   due.Add(-time.Duration(a+1) * 40 * time.Minute),
			Kind: digest.KindLabelSubmitted, User: fmt.Sprintf("annotator%d@example.com", a%3), TimeSpentMS: 60_000 + int64(a)*1_000,
		}
		if a%2 == 1 {
			rec.Kind, rec.User, rec.Annotator, rec.Approved = digest.KindLabelReviewed, fmt.Sprintf("reviewer%d@example.com", a/2%2), fmt.Sprintf("annotator%d@example.com", (a-1)%3), a%4 != 3
		}
		out = append(out, rec)
	}
	return out
}

// runIdle: the scheduled functions with nothing to send, as they run most of the time: the
// mailer with no pending recipient, the digest function with a notification whose digest is
// not due. Billed per 30-day month of their schedules (a mailer run and five digest runs per
// 5-minute period).
func runIdle(t *testing.T, prices cost.Prices, name string, periods int) cost.Bill {
	w := newNotifyWorld(t)
	if got := w.mailer.Mailer.Interval; got != mailerInterval {
		t.Fatalf("the mailer runs every %s, want the %s this workload prices a month of", got, mailerInterval)
	}
	ctx := context.Background()
	// Two hours ago: the digest is next due in about 22 hours, long after the runs below.
	n := notifications.Notification{
		ID: "ntf_idle", Title: "Daily QA", Projects: []string{sampleProject},
		Channels: notifications.Channels{Emails: []string{"lead@example.com"}},
		Triggers: notifications.Triggers{Digests: []notifications.Digest{{
			TimesOfDay: []string{time.Now().UTC().Add(-2 * time.Hour).Format("15:04")}, TimeZone: "UTC", Period: 24 * time.Hour,
		}}},
	}
	n = w.createNotification(t, n)
	plan, err := digest.Plan(n, digest.Schedule{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.NewSchedules(w.b.Admin().DynamoDB, w.b.WebhooksTable).PutSchedule(ctx, plan); err != nil {
		t.Fatal(err)
	}
	w.dueClock, w.mailClock = time.Now(), time.Now()
	for range periods {
		w.mailClock = w.mailClock.Add(w.mailer.Mailer.Interval)
		if err := w.mailerFn.invoke(func() error { return w.mailer.Handle(ctx, scheduled) }); err != nil {
			t.Fatal(err)
		}
		for range digestRunsPerMailerRun {
			w.dueClock = w.dueClock.Add(time.Minute)
			if err := w.digestFn.invoke(func() error { return w.digest.Handle(ctx, scheduled) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	bill := w.price(t, prices, cost.Workload{Name: name, Unit: "5-minute periods", Count: periods, Per: periodsPerMonth}, []*lambdaFn{w.mailerFn, w.digestFn})
	m, g := w.mailerFn.meter.Usage(), w.digestFn.meter.Usage()
	if m.Invocations != periods || g.Invocations != periods*digestRunsPerMailerRun || m.ReadUnits <= 0 || g.ReadUnits <= 0 || m.SESEmails+g.SESEmails != 0 {
		t.Errorf("idle usage: mailer %s; digest %s: want every run to read its index and send nothing", m, g)
	}
	return bill
}

// price bills the functions of a workload with the event source mapping's SQS requests, and
// asserts what holds for every workload.
func (w *notifyWorld) price(t *testing.T, prices cost.Prices, wl cost.Workload, fns []*lambdaFn) cost.Bill {
	t.Helper()
	metered := []cost.Metered{{Fn: w.sourceFn}}
	var all cost.Usage
	for _, f := range fns {
		metered = append(metered, f.metered())
		u := f.meter.Usage()
		all = all.Add(u)
		t.Logf("%s: %s", f.meter.Name, u)
		if u.Billed <= 0 || u.LogBytes+u.MetricBytes <= 0 {
			t.Errorf("%s usage %s: want billed time and log bytes", f.meter.Name, u)
		}
	}
	t.Logf("%s: %s", w.sourceFn.Name, w.sourceFn.Usage())
	if len(all.UnknownCalls) > 0 {
		t.Errorf("the meter does not know DynamoDB calls %v: their units are missing", all.UnknownCalls)
	}
	bill, err := cost.Price(prices, wl, metered)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	bill.Print(&buf)
	t.Log(buf.String())
	return bill
}

// checkExtras asserts the SES and Slack lines against what the workload sent, and bounds the
// rest of the bill by bound dollars: SES is priced per email whatever Herald does, the rest is
// Herald's.
func checkExtras(t *testing.T, bill cost.Bill, emails, posts int, bound float64) {
	t.Helper()
	perM := bill.Per / float64(bill.Count)
	ses, ok := bill.Line(cost.ComponentSES)
	if !ok || !near(ses.Units, float64(emails)*perM) {
		t.Errorf("%s: SES line %+v, want %d emails scaled to %.0f", bill.Name, ses, emails, float64(emails)*perM)
	}
	slack, ok := bill.Line(cost.ComponentSlack)
	if !ok || !near(slack.Units, float64(posts)*perM) || slack.Dollars != 0 {
		t.Errorf("%s: Slack line %+v, want %d posts scaled to %.0f, free", bill.Name, slack, posts, float64(posts)*perM)
	}
	if rest := bill.Total() - ses.Dollars; rest <= 0 || rest > bound {
		t.Errorf("%s: $%.2f per million %s besides SES, want between 0 and $%.0f", bill.Name, rest, bill.Unit, bound)
	}
}

func near(a, b float64) bool { return a >= b*0.999 && a <= b*1.001 }
