package e2e_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/standin"
)

// startEmbedded runs the single-machine Herald in this process, wired from template.yaml,
// with loopback receivers allowed and env over the template's function environment, on a
// data directory of its own; it is closed at the end of the test.
func startEmbedded(t *testing.T, env map[string]string) *localrun.Herald {
	t.Helper()
	h := startEmbeddedIn(t, t.TempDir(), env)
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// startEmbeddedIn runs it on dir; the caller closes it.
func startEmbeddedIn(t *testing.T, dir string, env map[string]string) *localrun.Herald {
	t.Helper()
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	h, err := localrun.Start(context.Background(), localrun.Config{
		DataDir: dir, Template: tmpl, EventsAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", AllowLoopback: true,
		Synchronous: "NORMAL", Pollers: 2, Env: env, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// putDetails publishes stage transitions to h's PutEvents endpoint with the AWS SDK.
func putDetails(t *testing.T, h *localrun.Herald, details ...string) {
	t.Helper()
	ctx := context.Background()
	cfg := standin.AWSConfig(t) // static credentials, nothing of the developer's ~/.aws
	bus := eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(h.EventsURL) })
	var entries []ebtypes.PutEventsRequestEntry
	for _, d := range details {
		entries = append(entries, ebtypes.PutEventsRequestEntry{
			Source: aws.String("encord.workflow"), DetailType: aws.String("Task Stage Transition"), Detail: aws.String(d),
			EventBusName: aws.String("herald"), // template.yaml's bus
		})
	}
	out, err := bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %+v, %v", out, err)
	}
}

// sampleDetail is the detail of the submitted sample, as its PutEvents file carries it.
func sampleDetail(t *testing.T) string {
	t.Helper()
	raw, err := samples.Read("putevents/task-submitted.json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct{ Detail string }
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries) != 1 {
		t.Fatalf("putevents sample: %v", err)
	}
	return entries[0].Detail
}

// The tenant test of TestEventsReachOnlyTheirOwnTenantsWebhooks on the embedded default: the
// real runner wired from template.yaml, fed through its PutEvents endpoint by the AWS SDK,
// over SQLite.
func TestEmbeddedEventsReachOnlyTheirOwnTenantsWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := startEmbedded(t, nil)
	owner, intruder := newReceiver(t, nil), newReceiver(t, nil)
	for _, c := range []struct {
		tenant string
		r      *receiver
	}{{sampleTenant, owner}, {rivalTenant, intruder}} {
		wh := contract.NewWebhook(t, c.tenant, "wh_annotate", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, c.r.url())
		if err := h.Store.CreateWebhook(ctx, wh); err != nil {
			t.Fatal(err)
		}
		c.r.secret = wh.Secrets[0]
	}
	detail := sampleDetail(t)
	putDetails(t, h, detail, asRival(t, detail))
	deadline := time.Now().Add(15 * time.Second)
	for owner.count() < 1 || intruder.count() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: acme %d, rival %d; want one each", owner.count(), intruder.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Anything else routed would be queued by now and delivered within a poll or two.
	time.Sleep(500 * time.Millisecond)
	assertEachGotItsOwn(t, owner, intruder)
}
