package stagehooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/telemetry"
)

// TargetFinder returns one tenant's webhooks on one stage of one project. The tenant is part
// of the lookup's key, not a filter on its result: project hashes are the platform's, any tenant
// may register a webhook on any hash, and only the event's own tenant may receive it.
type TargetFinder interface {
	TargetsForStage(ctx context.Context, tenant, projectHash, stageUUID string) ([]Target, error)
}

// JobQueue accepts delivery jobs; when Enqueue returns nil every job is durably queued.
type JobQueue interface {
	Enqueue(ctx context.Context, jobs []delivery.Job) error
}

// Trigger is one webhook event a transition fires on one stage.
type Trigger struct {
	EventType string
	StageUUID string
}

// Triggers returns what a transition fires: leaving an Annotate stage is a submission, reaching
// a Complete stage is a completion; a task sent straight from Annotate to Complete fires both.
func Triggers(d stagetransition.Detail) ([]Trigger, error) {
	var out []Trigger
	if d.FromStage != nil && d.FromStage.Type == stagetransition.Annotate {
		out = append(out, Trigger{EventType: EventTaskSubmitted, StageUUID: d.FromStage.UUID})
	}
	if d.ToStage.Type == stagetransition.Complete {
		if len(d.DataHashes) != 1 || len(d.LabelHashes) != 1 {
			return nil, &stagetransition.InvalidError{Reason: stagetransition.ReasonMissingHashes,
				Detail: fmt.Sprintf("a completed task has exactly one data hash and one label hash; got %d and %d", len(d.DataHashes), len(d.LabelHashes))}
		}
		out = append(out, Trigger{EventType: EventTaskCompleted, StageUUID: d.ToStage.UUID})
	}
	return out, nil
}

// ErrCrossTenant means a lookup returned another tenant's record; it never happens with a
// correct store.
var ErrCrossTenant = errors.New("record of another tenant returned")

// Router turns stage transitions into delivery jobs, one per enabled webhook.
type Router struct {
	Targets TargetFinder
	Queue   JobQueue
	Counter telemetry.Counter
	Logger  *slog.Logger
}

// Route enqueues the jobs of one validated transition and returns how many. An error means
// nothing can be promised about this transition and the caller must have it retried; the jobs
// of a retry carry the same ids, so receivers see duplicates at worst, never losses.
func (r *Router) Route(ctx context.Context, d stagetransition.Detail) (int, error) {
	triggers, err := Triggers(d)
	if err != nil {
		return 0, err
	}
	var jobs []delivery.Job
	for _, trig := range triggers {
		targets, err := r.Targets.TargetsForStage(ctx, d.TenantID, d.ProjectHash, trig.StageUUID)
		if err != nil {
			return 0, fmt.Errorf("find webhooks of tenant %s project %s stage %s: %w", d.TenantID, d.ProjectHash, trig.StageUUID, err)
		}
		for _, t := range targets {
			if t.TenantID != d.TenantID {
				// A store that answered outside the tenant it was asked for is a bug; refusing
				// the whole event keeps it retried and visible instead of leaking it.
				return 0, fmt.Errorf("webhook %s of tenant %s returned for tenant %s project %s: %w", t.WebhookID, t.TenantID, d.TenantID, d.ProjectHash, ErrCrossTenant)
			}
			if !t.Enabled {
				continue
			}
			uid := PayloadUID(d, t.WebhookID, trig.EventType)
			body, err := BuildPayload(d, trig.EventType, uid)
			if err != nil {
				return 0, fmt.Errorf("build %s for webhook %s: %w", trig.EventType, t.WebhookID, err)
			}
			jobs = append(jobs, delivery.Job{ID: uid, TenantID: t.TenantID, WebhookID: t.WebhookID, EventType: trig.EventType, Payload: body,
				Ordered: t.Ordered})
		}
	}
	if len(jobs) == 0 {
		return 0, nil
	}
	if err := r.Queue.Enqueue(ctx, jobs); err != nil {
		return 0, fmt.Errorf("enqueue %d delivery jobs for task %s: %w", len(jobs), d.TaskID, err)
	}
	if r.Counter != nil {
		for _, j := range jobs {
			r.Counter.Count(telemetry.JobsEnqueued, j.EventType)
		}
	}
	return len(jobs), nil
}
