package stagehooks_test

import (
	"context"
	"encoding/json"
	"errors"
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

func (f *fakeTargets) TargetsForStage(_ context.Context, project, stage string) ([]stagehooks.Target, error) {
	f.calls++
	return f.byStage[project+"/"+stage], f.err
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
		d.ProjectHash + "/" + d.FromStage.UUID: {
			{TenantID: "t1", WebhookID: "wh_a", Enabled: true},
			{TenantID: "t1", WebhookID: "wh_off", Enabled: false},
			{TenantID: "t1", WebhookID: "wh_b", Enabled: true},
		},
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
		Targets: &fakeTargets{byStage: map[string][]stagehooks.Target{d.ProjectHash + "/" + d.FromStage.UUID: {{TenantID: "t", WebhookID: "w", Enabled: true}}}},
		Queue:   &fakeQueue{err: errors.New("sqs down")},
	}
	if _, err := enqueueFails.Route(context.Background(), d); err == nil {
		t.Fatal("enqueue failure swallowed")
	}
}

func TestCachedTargetsRemembersEmptyStages(t *testing.T) {
	t.Parallel()
	inner := &fakeTargets{}
	cached := stagehooks.NewCachedTargets(inner, time.Minute)
	for range 3 {
		if _, err := cached.TargetsForStage(context.Background(), "p", "s"); err != nil {
			t.Fatal(err)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("store read %d times for one stage, want 1", inner.calls)
	}
	off := stagehooks.NewCachedTargets(inner, 0)
	_, _ = off.TargetsForStage(context.Background(), "p", "s")
	_, _ = off.TargetsForStage(context.Background(), "p", "s")
	if inner.calls != 3 {
		t.Fatalf("ttl 0 still cached: %d reads, want 3", inner.calls)
	}
}
