package stagehooks

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/telemetry"
)

// TargetFinder returns the webhooks configured on one stage of one project.
type TargetFinder interface {
	TargetsForStage(ctx context.Context, projectHash, stageUUID string) ([]Target, error)
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
		targets, err := r.Targets.TargetsForStage(ctx, d.ProjectHash, trig.StageUUID)
		if err != nil {
			return 0, fmt.Errorf("find webhooks of project %s stage %s: %w", d.ProjectHash, trig.StageUUID, err)
		}
		for _, t := range targets {
			if !t.Enabled {
				continue
			}
			uid := PayloadUID(d, t.WebhookID, trig.EventType)
			body, err := BuildPayload(d, trig.EventType, uid)
			if err != nil {
				return 0, fmt.Errorf("build %s for webhook %s: %w", trig.EventType, t.WebhookID, err)
			}
			jobs = append(jobs, delivery.Job{ID: uid, TenantID: t.TenantID, WebhookID: t.WebhookID, EventType: trig.EventType, Payload: body})
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
