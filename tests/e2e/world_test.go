package e2e_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
	"github.com/heraldhq/herald/infra/lambdafn/routerfn"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// Tenant, stage UUIDs and project of the samples in events/samples/router.
const (
	sampleTenant        = "acme"
	sampleProject       = "751a3a3e-46b6-4aad-b0b8-19b169f91266"
	sampleAnnotateStage = "a1b2c3d4-0000-4000-8000-00000000a001"
	sampleCompleteStage = "a1b2c3d4-0000-4000-8000-00000000c001"
)

// world is Herald wired as on AWS, but on the local stand-ins: the router handler called as
// EventBridge would, the real SQS stand-in, a poller acting as Lambda's event source mapping,
// and the delivery handler. Each function's clients count their requests separately.
type world struct {
	backend  *awsfixture.Backend
	store    *dynamo.WebhookStore
	attempts *dynamo.AttemptLog
	router   *routerfn.Handler
	delivery *deliveryfn.Handler
	poller   *eventsource.Poller
	// orderedPoller is the event source mapping of the FIFO queue of ordered webhooks.
	orderedPoller   *eventsource.Poller
	counts          *telemetry.Memory
	routerRequests  *awsfixture.RequestCounter
	deliveryRequest *awsfixture.RequestCounter
	pollerRequests  *awsfixture.RequestCounter
	faults          *awsfixture.Faults
}

type worldOptions struct {
	schedule      string
	cacheTTL      time.Duration
	allowLoopback bool
	// health replaces the default endpoint health policy when set.
	health *delivery.HealthPolicy
	// faultRate is the share of the router's and delivery function's DynamoDB and SQS
	// requests that fail (throttled or 500); the event source poller, AWS's own, is spared.
	faultRate float64
	// attemptTimeout replaces the 3 s attempt timeout when set, visibility the queue's 20 s.
	attemptTimeout, visibility time.Duration
	// dynamoMiddleware, when set, joins the router's and delivery function's DynamoDB clients.
	dynamoMiddleware func(*middleware.Stack) error
}

func newWorld(t *testing.T, opts worldOptions) *world {
	t.Helper()
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: cmp.Or(opts.visibility, 20*time.Second)})
	cfg := b.Config(t, opts.schedule)
	cfg.ConfigCacheTTL = opts.cacheTTL
	cfg.AllowLoopback = opts.allowLoopback
	cfg.AttemptTimeout = 3 * time.Second
	if opts.attemptTimeout > 0 {
		cfg.AttemptTimeout = opts.attemptTimeout
	}
	if opts.health != nil {
		cfg.EndpointHealth = *opts.health
	}
	w := &world{
		backend:         b,
		store:           dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable),
		attempts:        dynamo.NewAttemptLog(b.Admin().DynamoDB, b.AttemptsTable, 0),
		counts:          telemetry.NewMemory(),
		routerRequests:  awsfixture.NewRequestCounter(),
		deliveryRequest: awsfixture.NewRequestCounter(),
		pollerRequests:  awsfixture.NewRequestCounter(),
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pollerClients := b.Clients(w.pollerRequests)
	if opts.faultRate > 0 {
		w.faults = b.InjectFaults(t, opts.faultRate, uint64(time.Now().UnixNano()))
		// Herald logs every fault it handles; at thousands of them the test log is noise.
		logger = slog.New(slog.DiscardHandler)
	}
	clients := func(counter *awsfixture.RequestCounter) lambdafn.Clients {
		c := b.Clients(counter)
		if opts.dynamoMiddleware != nil {
			c.DynamoDB = dynamodb.New(c.DynamoDB.Options(), func(o *dynamodb.Options) {
				o.APIOptions = append(o.APIOptions, opts.dynamoMiddleware)
			})
		}
		return c
	}
	var err error
	if w.router, err = routerfn.New(cfg, clients(w.routerRequests), w.counts, logger); err != nil {
		t.Fatal(err)
	}
	if w.delivery, err = deliveryfn.New(cfg, clients(w.deliveryRequest), w.counts, logger); err != nil {
		t.Fatal(err)
	}
	w.poller = &eventsource.Poller{
		Source:   sqsqueue.New(pollerClients.SQS, b.QueueURL, b.DLQURL),
		QueueARN: b.QueueARN,
		Handler:  w.delivery.Handle, BatchSize: 10, WaitTime: time.Second, Logger: logger,
	}
	w.orderedPoller = &eventsource.Poller{
		Source:   sqsqueue.NewFIFO(pollerClients.SQS, b.OrderedQueueURL, b.OrderedDLQURL),
		QueueARN: b.OrderedQueueARN,
		Handler:  w.delivery.Handle, BatchSize: 10, WaitTime: time.Second, Logger: logger,
	}
	return w
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// addWebhook puts a webhook on a stage of the sample project in the samples' tenant.
func (w *world) addWebhook(t *testing.T, id, stage string, typ stagehooks.StageType, url string) stagehooks.Webhook {
	t.Helper()
	return w.addTenantWebhook(t, sampleTenant, id, stage, typ, url)
}

func (w *world) addTenantWebhook(t *testing.T, tenant, id, stage string, typ stagehooks.StageType, url string) stagehooks.Webhook {
	t.Helper()
	wh := contract.NewWebhook(t, tenant, id, sampleProject, stage, typ, url)
	if err := w.store.CreateWebhook(context.Background(), wh); err != nil {
		t.Fatal(err)
	}
	return wh
}

// publish hands a sample event to the router as EventBridge's Lambda target would.
func (w *world) publish(t *testing.T, sample string) error {
	t.Helper()
	raw, err := samples.Read(sample)
	if err != nil {
		t.Fatal(err)
	}
	return w.publishRaw(t, raw)
}

func (w *world) publishRaw(t *testing.T, raw []byte) error {
	t.Helper()
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return w.router.Handle(context.Background(), ev)
}

// pollUntil runs the event source mapping until done reports true.
func (w *world) pollUntil(t *testing.T, within time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		if _, err := w.poller.PollOnce(context.Background()); err != nil {
			t.Logf("poll: %v", err) // the stand-in drops a connection now and then; Lambda polls on
		}
	}
}

// receiver is a webhook endpoint that verifies every request with the Standard Webhooks
// reference library before recording it.
type receiver struct {
	t      *testing.T
	secret string
	addr   string
	srv    *http.Server
	mu     sync.Mutex
	got    []received
	status func(n int) (int, http.Header)
}

type received struct {
	at        time.Time
	header    http.Header
	body      []byte
	verifyErr error
}

func newReceiver(t *testing.T, status func(n int) (int, http.Header)) *receiver {
	t.Helper()
	r := &receiver{t: t, status: status}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.serve(l)
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hooks/herald" }

func (r *receiver) serve(l net.Listener) {
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(l) }()
}

// stop takes the receiver down: connections to it are refused.
func (r *receiver) stop() { _ = r.srv.Close() }

// start brings it back on the same address.
func (r *receiver) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatalf("restart receiver on %s: %v", r.addr, err)
	}
	r.serve(l)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rec := received{at: time.Now(), header: req.Header.Clone(), body: body}
	if wh, err := standardwebhooks.NewWebhook(r.secret); err != nil {
		rec.verifyErr = err
	} else {
		rec.verifyErr = wh.Verify(body, req.Header)
	}
	r.mu.Lock()
	r.got = append(r.got, rec)
	n := len(r.got)
	r.mu.Unlock()
	code, header := 200, http.Header(nil)
	if r.status != nil {
		code, header = r.status(n)
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) count() int { return len(r.requests()) }

// The tenant tests: rivalTenant uses the sample project's hash and stages for its own tasks.
const (
	rivalTenant = "rival"
	sampleData  = "f0b012de-5aea-4457-b515-936b0c185771"
	rivalData   = "0000aaaa-rival-data-hash"
)

// asRival turns the submitted sample (an event or its detail, indented or compact) into the
// rival tenant's event for its own task on the same project hash: its tenant and its data hash.
func asRival(t *testing.T, sample string) string {
	t.Helper()
	out := sample
	for _, form := range []string{`"tenant_id": "acme"`, `"tenant_id":"acme"`, `\"tenant_id\":\"acme\"`} {
		out = strings.Replace(out, form, strings.Replace(form, sampleTenant, rivalTenant, 1), 1)
	}
	out = strings.Replace(out, sampleData, rivalData, 1)
	if !strings.Contains(out, rivalTenant) || !strings.Contains(out, rivalData) {
		t.Fatalf("could not derive the rival tenant's event from %s", sample)
	}
	return out
}

// assertEachGotItsOwn checks that acme's receiver got exactly acme's event and the rival's
// exactly the rival's, each signed with its own webhook's secret.
func assertEachGotItsOwn(t *testing.T, owner, intruder *receiver) {
	t.Helper()
	for _, c := range []struct {
		name      string
		r         *receiver
		mine, not string
	}{
		{"acme's receiver", owner, sampleData, rivalData},
		{"rival's receiver", intruder, rivalData, sampleData},
	} {
		got := c.r.requests()
		if len(got) != 1 {
			t.Fatalf("%s got %d deliveries, want exactly its own one", c.name, len(got))
		}
		if got[0].verifyErr != nil || !bytes.Contains(got[0].body, []byte(c.mine)) || bytes.Contains(got[0].body, []byte(c.not)) {
			t.Fatalf("%s got %s (verify: %v); want its own tenant's event, signed with its own secret", c.name, got[0].body, got[0].verifyErr)
		}
	}
}
