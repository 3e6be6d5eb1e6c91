package stagehooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

type fakeTargets struct {
	byStage map[string][]stagehooks.Target
	err     error
	calls   int
}

func (f *fakeTargets) TargetsForStage(_ context.Context, tenant, project, stage string) ([]stagehooks.Target, error) {
	f.calls++
	return f.byStage[tenant+"/"+project+"/"+stage], f.err
}

type fakeQueue struct {
	jobs []delivery.Job
	err  error
}

func (f *fakeQueue) Enqueue(_ context.Context, jobs []delivery.Job) error {
	if f.err != nil {
		return f.err
	}
	f.jobs = append(f.jobs, jobs...)
	return nil
}

func TestRouterBuildsOneJobPerEnabledWebhook(t *testing.T) {
	t.Parallel()
	d := sampleDetail(t, "router/task-submitted.json")
	targets := &fakeTargets{byStage: map[string][]stagehooks.Target{
		d.TenantID + "/" + d.ProjectHash + "/" + d.FromStage.UUID: {
			{TenantID: d.TenantID, WebhookID: "wh_a", Enabled: true},
			{TenantID: d.TenantID, WebhookID: "wh_off", Enabled: false},
			{TenantID: d.TenantID, WebhookID: "wh_b", Enabled: true},
		},
		"other/" + d.ProjectHash + "/" + d.FromStage.UUID: {{TenantID: "other", WebhookID: "wh_other", Enabled: true}},
	}}
	queue := &fakeQueue{}
	r := &stagehooks.Router{Targets: targets, Queue: queue}
	n, err := r.Route(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(queue.jobs) != 2 {
		t.Fatalf("enqueued %d (%d jobs), want 2", n, len(queue.jobs))
	}
	for _, job := range queue.jobs {
		if job.WebhookID == "wh_off" {
			t.Fatal("a disabled webhook got a job")
		}
		if job.TenantID != d.TenantID {
			t.Fatalf("job for tenant %s from an event of tenant %s", job.TenantID, d.TenantID)
		}
		if err := job.Validate(); err != nil {
			t.Fatal(err)
		}
		var body struct {
			UID       string `json:"uid"`
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(job.Payload, &body); err != nil {
			t.Fatal(err)
		}
		if body.UID != job.ID || body.EventType != stagehooks.EventTaskSubmitted || job.EventType != body.EventType {
			t.Fatalf("job %+v carries body uid %s, event %s", job, body.UID, body.EventType)
		}
	}
	if queue.jobs[0].ID == queue.jobs[1].ID {
		t.Fatal("two webhooks share a payload uid")
	}

	// EventBridge delivers at least once: the same event again yields the same uids.
	again := &fakeQueue{}
	r.Queue = again
	if _, err := r.Route(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	for i := range again.jobs {
		if again.jobs[i].ID != queue.jobs[i].ID {
			t.Fatalf("redelivered event got uid %s, first time %s", again.jobs[i].ID, queue.jobs[i].ID)
		}
	}
}

func TestRouterPropagatesOwnFailures(t *testing.T) {
	t.Parallel()
	d := sampleDetail(t, "router/task-submitted.json")
	lookupFails := &stagehooks.Router{Targets: &fakeTargets{err: errors.New("throttled")}, Queue: &fakeQueue{}}
	if _, err := lookupFails.Route(context.Background(), d); err == nil {
		t.Fatal("lookup failure swallowed")
	}
	enqueueFails := &stagehooks.Router{
		Targets: &fakeTargets{byStage: map[string][]stagehooks.Target{d.TenantID + "/" + d.ProjectHash + "/" + d.FromStage.UUID: {{TenantID: d.TenantID, WebhookID: "w", Enabled: true}}}},
		Queue:   &fakeQueue{err: errors.New("sqs down")},
	}
	if _, err := enqueueFails.Route(context.Background(), d); err == nil {
		t.Fatal("enqueue failure swallowed")
	}
}

func TestRouterRefusesAnotherTenantsWebhook(t *testing.T) {
	t.Parallel()
	d := sampleDetail(t, "router/task-submitted.json")
	// A store that ignores the tenant it is asked for: the router must not deliver what it returns.
	leaky := &fakeTargets{byStage: map[string][]stagehooks.Target{
		d.TenantID + "/" + d.ProjectHash + "/" + d.FromStage.UUID: {{TenantID: "intruder", WebhookID: "wh_x", Enabled: true}},
	}}
	queue := &fakeQueue{}
	_, err := (&stagehooks.Router{Targets: leaky, Queue: queue}).Route(context.Background(), d)
	if !errors.Is(err, stagehooks.ErrCrossTenant) || len(queue.jobs) != 0 {
		t.Fatalf("Route = %v with %d jobs; want ErrCrossTenant and nothing enqueued", err, len(queue.jobs))
	}
}

func TestCachedTargetsRemembersEmptyStages(t *testing.T) {
	t.Parallel()
	inner := &fakeTargets{}
	cached := stagehooks.NewCachedTargets(inner, time.Minute)
	for range 3 {
		if _, err := cached.TargetsForStage(context.Background(), "t", "p", "s"); err != nil {
			t.Fatal(err)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("store read %d times for one stage, want 1", inner.calls)
	}
	// The same project and stage of another tenant is another key: its webhooks are not the
	// first tenant's cached answer.
	inner.byStage = map[string][]stagehooks.Target{"u/p/s": {{TenantID: "u", WebhookID: "wh_u", Enabled: true}}}
	if got, _ := cached.TargetsForStage(context.Background(), "u", "p", "s"); len(got) != 1 || got[0].WebhookID != "wh_u" || inner.calls != 2 {
		t.Fatalf("tenant u got %+v after %d reads; want its own webhook from a second read", got, inner.calls)
	}
	inner.calls = 1
	off := stagehooks.NewCachedTargets(inner, 0)
	_, _ = off.TargetsForStage(context.Background(), "t", "p", "s")
	_, _ = off.TargetsForStage(context.Background(), "t", "p", "s")
	if inner.calls != 3 {
		t.Fatalf("ttl 0 still cached: %d reads, want 3", inner.calls)
	}
}

// A job carries the Ordered flag of its webhook's target, so that it rides the queue its
// webhook asked for; a webhook that did not ask gets an unordered job. The stores' side, that
// a target carries the flag its webhook was saved with, is in the config contract
// (tests/contract) on both backends.
func TestRouterJobsCarryTheirWebhooksOrdering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := sampleDetail(t, "router/task-submitted.json")
	want := map[string]bool{"wh_ordered": true, "wh_plain": false}
	var targets []stagehooks.Target
	for id, ordered := range want {
		targets = append(targets, stagehooks.Target{TenantID: d.TenantID, WebhookID: id, Enabled: true, Ordered: ordered})
	}
	store := &fakeTargets{byStage: map[string][]stagehooks.Target{d.TenantID + "/" + d.ProjectHash + "/" + d.FromStage.UUID: targets}}
	queue := &fakeQueue{}
	if _, err := (&stagehooks.Router{Targets: store, Queue: queue}).Route(ctx, d); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, j := range queue.jobs {
		got[j.WebhookID] = j.Ordered
	}
	if !maps.Equal(got, want) {
		t.Fatalf("ordered by webhook %v, want %v", got, want)
	}
}
