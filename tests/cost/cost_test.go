package cost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
	"github.com/heraldhq/herald/infra/lambdafn/routerfn"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/cost"
)

// reportEnv asks for the full-size workloads and the printed table (make cost).
const reportEnv = "HERALD_COST_REPORT"

// ceiling is a generous bound on a million deliveries: a meter that counts a component
// thousands of times over (or a Herald change that does) fails here rather than in the README.
const ceiling = 20.0

// Sample identifiers that the workloads rewrite per project and per event.
const (
	sampleTenant   = "acme"
	sampleProject  = "751a3a3e-46b6-4aad-b0b8-19b169f91266"
	sampleStage    = "a1b2c3d4-0000-4000-8000-00000000a001"
	sampleEventID  = "6f1b8a3e-2c4d-4e5f-9a0b-1c2d3e4f5a6b"
	sampleOccurred = "2024-03-25T15:18:55.406529+00:00"
)

// TestCost runs the workloads of issue 12 through the real handlers on the stand-ins, meters
// what AWS would bill, and prices it per million of each workload's unit: webhook deliveries
// through the router and delivery functions; notification events through the notify,
// delivery and mailer functions; digest deliveries through the digest and delivery functions;
// and the scheduled functions' idle runs per month. With HERALD_COST_REPORT=1 it runs at full
// size and prints the tables.
func TestCost(t *testing.T) {
	report := os.Getenv(reportEnv) == "1"
	prices, err := cost.LoadPrices()
	if err != nil {
		t.Fatal(err)
	}
	fanOut1Events, fanOut10Events := 20, 5
	// Email windows of the notification workloads, digest runs (digestsPerRun each), idle
	// 5-minute periods.
	busyWindows, quietWindows, digestRuns, idlePeriods := 2, 3, 2, 1
	if report {
		fanOut1Events, fanOut10Events = 200, 100
		busyWindows, quietWindows, digestRuns, idlePeriods = 20, 50, 10, 4
	}
	workloads := []struct {
		name           string
		events, fanOut int
		// projects: one project per event (every event misses the router's config cache), or
		// one project for all.
		projectPerEvent bool
		// failing is how many of the stage's webhooks fail each delivery twice before it
		// succeeds (retried after 1 s, then 1 s).
		failing int
	}{
		{fmt.Sprintf("fan-out 1, %d events over %d projects (cold config cache)", fanOut1Events, fanOut1Events), fanOut1Events, 1, true, 0},
		{fmt.Sprintf("fan-out 10, %d events on one stage with ten webhooks", fanOut10Events), fanOut10Events, 10, false, 0},
		{fmt.Sprintf("fan-out 10, %d events, one webhook in ten failing each delivery twice before it succeeds", fanOut10Events), fanOut10Events, 10, false, 1},
	}
	bills := make([]cost.Bill, len(workloads), len(workloads)+4)
	for i, wl := range workloads {
		t.Run(fmt.Sprintf("fan-out %d, %d failing", wl.fanOut, wl.failing), func(t *testing.T) {
			w := newWorld(t)
			r := newReceiver(t)
			for h := range wl.failing {
				r.failTwice[fmt.Sprint(h)] = true
			}
			if wl.projectPerEvent {
				for p := range wl.events {
					w.addWebhook(t, fmt.Sprintf("wh_p%04d", p), project(p), stage(p), r.url(fmt.Sprint(p)))
				}
			} else {
				for h := range wl.fanOut {
					w.addWebhook(t, fmt.Sprintf("wh_%02d", h), sampleProject, sampleStage, r.url(fmt.Sprint(h)))
				}
			}
			for e := range wl.events {
				proj, stg := sampleProject, sampleStage
				if wl.projectPerEvent {
					proj, stg = project(e), stage(e)
				}
				w.publish(t, e, proj, stg)
			}
			want := wl.events * wl.fanOut
			w.pollUntil(t, 2*time.Minute, func() bool { return r.count() >= want })
			wantRequests := want + 2*wl.events*wl.failing
			if got, ids := r.totals(); got != wantRequests || ids != want {
				t.Fatalf("receivers got %d requests with %d webhook-ids, want %d requests for %d deliveries", got, ids, wantRequests, want)
			}
			bill := w.check(t, prices, wl.name, want)
			bills[i] = bill
		})
	}
	notificationWorkloads := []struct {
		sub, name string
		run       func(t *testing.T, name string) cost.Bill
	}{
		{"notifications, busy windows", fmt.Sprintf("notifications to a Slack channel and %d addresses, %d events in each of %d 5-minute email windows", recipients, busyEventsPerWindow, busyWindows),
			func(t *testing.T, name string) cost.Bill {
				return runNotifications(t, prices, name, busyWindows, busyEventsPerWindow)
			}},
		{"notifications, quiet windows", fmt.Sprintf("notifications to a Slack channel and %d addresses, one event in each of %d 5-minute email windows", recipients, quietWindows),
			func(t *testing.T, name string) cost.Bill { return runNotifications(t, prices, name, quietWindows, 1) }},
		{"digests", fmt.Sprintf("daily digests to a webhook, a Slack channel and %d addresses, %d digests due per minute over %d minutes, %d activity records per digest",
			recipients, digestsPerRun, digestRuns, activityPerDigest),
			func(t *testing.T, name string) cost.Bill { return runDigests(t, prices, name, digestRuns) }},
		{"schedules at idle", "mailer (every 5 minutes) and digest function (every minute) with nothing to send, per 30-day month",
			func(t *testing.T, name string) cost.Bill { return runIdle(t, prices, name, idlePeriods) }},
	}
	for _, wl := range notificationWorkloads {
		t.Run(wl.sub, func(t *testing.T) { bills = append(bills, wl.run(t, wl.name)) })
	}
	if t.Failed() || !report || len(bills) != len(workloads)+len(notificationWorkloads) ||
		slices.ContainsFunc(bills, func(b cost.Bill) bool { return b.Count == 0 }) {
		return // a workload failed or was skipped (no stand-ins): nothing to print
	}
	fmt.Printf("\nWhat Herald costs, us-east-1 list prices of %s (%s)\n", prices.Taken, prices.Status)
	for _, b := range bills {
		b.Print(os.Stdout)
	}
	busy, quiet, digests, idle := bills[3], bills[4], bills[5], bills[6]
	fmt.Println()
	fmt.Printf("notifications, %d events per email window: $%.2f per million notification events\n", busyEventsPerWindow, busy.Total())
	fmt.Printf("notifications, one event per email window: $%.2f per million notification events\n", quiet.Total())
	fmt.Printf("digests: $%.2f per million digest deliveries ($%.2f per million digests)\n", digests.Total(), digests.Total()*digestTargets)
	fmt.Printf("mailer and digest schedules at idle: $%.2f per month\n", idle.Total())
	fmt.Printf("fan-out 10: $%.2f per million deliveries\n", bills[1].Total())
	fmt.Printf("fan-out 10, one webhook in ten failing twice: $%.2f per million deliveries\n", bills[2].Total())
	fmt.Printf("fan-out 1: $%.2f per million deliveries\n", bills[0].Total())
}

// check prices the world's usage and asserts what a meter that works must see.
func (w *world) check(t *testing.T, prices cost.Prices, name string, deliveries int) cost.Bill {
	t.Helper()
	for _, f := range []*cost.Function{w.routerFn, w.deliveryFn, w.sourceFn} {
		t.Logf("%s: %s", f.Name, f.Usage())
	}
	bill, err := cost.Price(prices, cost.PerMillion(name, "deliveries", deliveries), []cost.Metered{
		{Fn: w.routerFn, Spec: &w.routerSpec}, {Fn: w.deliveryFn, Spec: &w.deliverySpec}, {Fn: w.sourceFn},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	bill.Print(&buf)
	t.Log(buf.String())
	d := w.deliveryFn.Usage()
	all := w.routerFn.Usage().Add(d).Add(w.sourceFn.Usage())
	if len(all.UnknownCalls) > 0 {
		t.Errorf("the meter does not know DynamoDB calls %v: their units are missing", all.UnknownCalls)
	}
	if d.TableUnits[w.backend.AttemptsTable] <= 0 || d.WriteUnits < float64(deliveries) {
		t.Errorf("delivery function wrote %.1f units (attempts table %.1f) for %d deliveries: an attempt record costs at least one",
			d.WriteUnits, d.TableUnits[w.backend.AttemptsTable], deliveries)
	}
	if r := w.routerFn.Usage(); r.ReadUnits <= 0 || r.Events <= 0 || r.SQSRequests <= 0 {
		t.Errorf("router usage %s: want the Query's read units, the events and the SendMessageBatch requests", r)
	}
	if d.LogBytes+d.MetricBytes <= 0 || d.Billed <= 0 {
		t.Errorf("delivery usage %s: want log bytes and billed time", d)
	}
	if total := bill.Total(); total <= 0 || total > ceiling {
		t.Errorf("%s: $%.2f per million deliveries, want between 0 and $%.0f", name, total, ceiling)
	}
	return bill
}

func project(i int) string { return fmt.Sprintf("c0570000-0000-4000-8000-%012d", i) }
func stage(i int) string   { return fmt.Sprintf("c0570000-0000-4000-a000-%012d", i) }

// world is Herald's router and delivery functions on the stand-ins, as tests/e2e wires them,
// each with a cost meter on its clients, logger, metrics and invocations; the event source
// mapping's SQS requests are metered too (AWS bills them to the account).
type world struct {
	backend                  *awsfixture.Backend
	store                    *dynamo.WebhookStore
	router                   *routerfn.Handler
	poller                   *eventsource.Poller
	routerFn, deliveryFn     *cost.Function
	sourceFn                 *cost.Function
	routerSpec, deliverySpec cost.Spec
	routerMetrics            *lambdafn.EMF
}

func newWorld(t *testing.T) *world {
	t.Helper()
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{}
	if w.routerSpec, err = cost.SpecOf(tmpl, "RouterFunction"); err != nil {
		t.Fatal(err)
	}
	if w.deliverySpec, err = cost.SpecOf(tmpl, "DeliveryFunction"); err != nil {
		t.Fatal(err)
	}
	// The deployed cache TTL: the template parameter's default.
	ttl, err := time.ParseDuration(fmt.Sprint(tmpl.Parameters()["ConfigCacheTTL"].Default))
	if err != nil {
		t.Fatalf("ConfigCacheTTL default of template.yaml: %v", err)
	}
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 30 * time.Second})
	w.backend = b
	w.store = dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
	// Retries 1 s apart: the failing workload's deliveries succeed on their third attempt
	// within seconds; each retry is a new message, as with the template's schedule.
	cfg := b.Config(t, "1s,1s,1s")
	cfg.ConfigCacheTTL = ttl
	cfg.AllowLoopback = true // the receivers listen on 127.0.0.1

	w.routerFn = cost.NewFunction("router", w.routerSpec.MemoryMB)
	w.deliveryFn = cost.NewFunction("delivery", w.deliverySpec.MemoryMB)
	w.sourceFn = cost.NewFunction("event source mapping", 0)
	// lambdafn.Main flushes a function's metrics after each invocation; so do the invocations
	// here (deliveryMetrics below, routerMetrics where the router is invoked).
	w.routerMetrics = lambdafn.NewEMF(w.routerFn.MetricsOut())
	deliveryMetrics := lambdafn.NewEMF(w.deliveryFn.MetricsOut())
	if w.router, err = routerfn.New(cfg, metered(b.Clients(nil), w.routerFn),
		w.routerMetrics, w.routerFn.Logger(w.routerSpec.LogLevel)); err != nil {
		t.Fatal(err)
	}
	delivery, err := deliveryfn.New(cfg, metered(b.Clients(nil), w.deliveryFn),
		deliveryMetrics, w.deliveryFn.Logger(w.deliverySpec.LogLevel))
	if err != nil {
		t.Fatal(err)
	}
	w.poller = &eventsource.Poller{
		Source:   sqsqueue.New(metered(b.Clients(nil), w.sourceFn).SQS, b.QueueURL, b.DLQURL),
		QueueARN: b.QueueARN,
		Handler: func(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
			w.deliveryFn.Invoke(func() { resp, err = delivery.Handle(ctx, ev); deliveryMetrics.Flush() })
			return resp, err
		},
		// As template.yaml's DeliveryJobs event: batches of 10.
		BatchSize: 10, WaitTime: time.Second, Logger: slog.New(slog.DiscardHandler),
	}
	return w
}

// metered adds a function's meter to the clients Herald's code builds on: DynamoDB, SQS and,
// through the configuration, EventBridge.
func metered(c lambdafn.Clients, f *cost.Function) lambdafn.Clients {
	mw := f.APIOption()
	add := func(opts []func(*middleware.Stack) error) []func(*middleware.Stack) error {
		return append(slices.Clip(opts), mw)
	}
	c.DynamoDB = dynamodb.New(c.DynamoDB.Options(), func(o *dynamodb.Options) { o.APIOptions = add(o.APIOptions) })
	c.SQS = sqs.New(c.SQS.Options(), func(o *sqs.Options) { o.APIOptions = add(o.APIOptions) })
	c.AWS = c.AWS.Copy()
	c.AWS.APIOptions = add(c.AWS.APIOptions)
	return c
}

func (w *world) addWebhook(t *testing.T, id, project, stage, url string) {
	t.Helper()
	wh := contract.NewWebhook(t, sampleTenant, id, project, stage, stagehooks.StageAnnotate, url)
	if err := w.store.CreateWebhook(context.Background(), wh); err != nil {
		t.Fatal(err)
	}
}

// publish hands the router the submitted sample as the i-th transition of a task in project
// on its annotate stage, as EventBridge's target would, and bills the producer's PutEvents
// entry (compact JSON, as an SDK sends it).
func (w *world) publish(t *testing.T, i int, project, stage string) {
	t.Helper()
	raw, err := samples.Read("router/task-submitted.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{
		{sampleProject, project}, {sampleStage, stage},
		{sampleEventID, fmt.Sprintf("6f1b8a3e-2c4d-4e5f-9a0b-%012d", i)},
		{sampleOccurred, fmt.Sprintf("2024-03-25T15:18:55.%06d+00:00", i)},
	} {
		raw = bytes.Replace(raw, []byte(r[0]), []byte(r[1]), 1)
	}
	ev := eventOf(t, raw)
	w.routerFn.AddEvents(cost.EventChunks(cost.EventSize(ev.Source, ev.DetailType, ev.Detail, ev.Resources)))
	w.routerFn.Invoke(func() { err = w.router.Handle(context.Background(), ev); w.routerMetrics.Flush() })
	if err != nil {
		t.Fatalf("route event %d: %v", i, err)
	}
}

// pollUntil runs the event source mapping until done reports true.
func (w *world) pollUntil(t *testing.T, within time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not all made within %s", within)
		}
		if _, err := w.poller.PollOnce(context.Background()); err != nil {
			t.Logf("poll: %v", err)
		}
	}
}

// receiver answers deliveries 204 at once, except that a webhook named in failTwice gets
// 500 for the first two requests of each delivery; it keeps the webhook-ids it saw.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	requests  int
	ids       map[string]int // webhook-id -> requests
	succeeded map[string]bool
	failTwice map[string]bool // by the hook of its URL
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{ids: map[string]int{}, succeeded: map[string]bool{}, failTwice: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		id := req.Header.Get(signing.HeaderID)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		r.ids[id]++
		if r.failTwice[req.URL.Query().Get("hook")] && r.ids[id] <= 2 {
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		r.succeeded[id] = true
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// url is the receiver's address for one webhook: a stage takes a URL once.
func (r *receiver) url(hook string) string { return r.srv.URL + "/hooks/herald?hook=" + hook }

// count is the deliveries that succeeded.
func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.succeeded)
}

func (r *receiver) totals() (requests, ids int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, len(r.ids)
}

// eventOf decodes raw as the event EventBridge hands a target, its detail compacted as
// EventBridge bills and delivers it.
func eventOf(t *testing.T, raw []byte) events.EventBridgeEvent {
	t.Helper()
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var detail bytes.Buffer
	if err := json.Compact(&detail, ev.Detail); err != nil {
		t.Fatal(err)
	}
	ev.Detail = detail.Bytes()
	return ev
}
