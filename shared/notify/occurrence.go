// Package notify makes reactive notifications reach their channels: it turns each inbound
// event into occurrences of the catalogue's triggers, finds the tenant's notifications that
// subscribe to them, and produces one item per channel target: a signed webhook delivery, a
// Slack post (both through the delivery queue) or a line of the recipient's next email.
package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/activity"
	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// Occurrence is one trigger of the catalogue fired by one inbound event.
type Occurrence struct {
	Event       notifications.EventType
	TenantID    string
	ProjectHash string
	// Key identifies the inbound event by its content, not by its EventBridge id: a producer
	// that publishes the same event twice gets two ids and one Key. Item ids derive from it,
	// so a repeated event produces the same deliveries, posts and email lines.
	Key        string
	OccurredAt time.Time
	TaskID     string
	// LabelHash is set for label events.
	LabelHash string
	// Actor is the email of the user who did it.
	Actor string
	// Summary is one plain-text sentence saying what happened, for Slack and email.
	Summary string
	// WebhookEventType is the event_type of the webhook body (events/payloads).
	WebhookEventType string
	body             func(uid string) ([]byte, error)
}

// Body renders the webhook body of the occurrence with the given uid.
func (o Occurrence) Body(uid string) ([]byte, error) { return o.body(uid) }

// itemNamespace scopes the ids of notification items.
var itemNamespace = uuid.MustParse("9d6f3f0e-2b7a-4c1e-8f3d-5a4b6c7d8e9f")

// ItemID is the id of what one occurrence sends one target of one notification: the same
// inputs give the same id, so a receiver (webhook-id), the Slack path (the attempt log) and the
// email store (the line id) all see a repeat as a repeat.
func ItemID(o Occurrence, notificationID, channel, target string) string {
	name := strings.Join([]string{o.Key, string(o.Event), notificationID, channel, target}, "\x00")
	return uuid.NewSHA1(itemNamespace, []byte(name)).String()
}

func key(parts ...string) string { return strings.Join(parts, "\x00") }

func short(hash string) string {
	if len(hash) > 8 {
		return hash[:8]
	}
	return hash
}

// FromTransition returns what a validated stage transition fires: task_submitted and
// task_completed, with the documented webhook payloads.
func FromTransition(d stagetransition.Detail) ([]Occurrence, error) {
	if _, err := stagehooks.Triggers(d); err != nil {
		return nil, err // a completed task without exactly one data and label hash
	}
	from := ""
	if d.FromStage != nil {
		from = d.FromStage.UUID
	}
	k := key(stagetransition.DetailType, d.TenantID, d.ProjectHash, d.TaskID, from, d.ToStage.UUID, d.OccurredAt.UTC().Format(time.RFC3339Nano))
	var out []Occurrence
	for _, ev := range notifications.EventsOf(d) {
		o := Occurrence{
			Event: ev, TenantID: d.TenantID, ProjectHash: d.ProjectHash, Key: k, OccurredAt: d.OccurredAt,
			TaskID: d.TaskID, Actor: d.Actor.Email,
		}
		switch ev {
		case notifications.TaskSubmitted:
			o.WebhookEventType = stagehooks.EventTaskSubmitted
			o.Summary = fmt.Sprintf("%s submitted task %s from %s.", d.Actor.Email, short(d.TaskID), stageName(d.FromStage))
		case notifications.TaskCompleted:
			o.WebhookEventType = stagehooks.EventTaskCompleted
			o.Summary = fmt.Sprintf("Task %s reached %s (moved by %s).", short(d.TaskID), stageName(&d.ToStage), d.Actor.Email)
		default:
			continue
		}
		eventType := o.WebhookEventType
		o.body = func(uid string) ([]byte, error) { return stagehooks.BuildPayload(d, eventType, uid) }
		out = append(out, o)
	}
	return out, nil
}

func stageName(s *stagetransition.Stage) string {
	if s == nil {
		return "outside the workflow"
	}
	if s.Title != "" {
		return fmt.Sprintf("%q", s.Title)
	}
	return "a " + string(s.Type) + " stage"
}

func user(u activity.User) payloads.User { return payloads.User{UserHash: u.UserHash, Email: u.Email} }

// FromLabelSubmitted returns the label_submitted occurrence of a submitted label.
func FromLabelSubmitted(d activity.LabelSubmitted) []Occurrence {
	what := "a new label"
	if d.Kind == activity.KindEdit {
		what = "an edit of label"
	}
	p := payloads.LabelSubmittedPayload{
		ProjectHash: d.ProjectHash, TaskID: d.TaskID, DataHash: d.DataHash, LabelHash: d.LabelHash,
		Annotator: user(d.Annotator), Kind: d.Kind, TimeSpentMS: d.TimeSpentMS,
	}
	return []Occurrence{{
		Event: notifications.LabelSubmitted, TenantID: d.TenantID, ProjectHash: d.ProjectHash,
		Key:        key(activity.DetailLabelSubmitted, d.TenantID, d.ProjectHash, d.LabelHash, d.Kind, d.Annotator.UserHash, d.OccurredAt.UTC().Format(time.RFC3339Nano)),
		OccurredAt: d.OccurredAt, TaskID: d.TaskID, LabelHash: d.LabelHash, Actor: d.Annotator.Email,
		Summary: fmt.Sprintf("%s submitted %s %s on task %s after %s.", d.Annotator.Email, what, short(d.LabelHash), short(d.TaskID),
			(time.Duration(d.TimeSpentMS) * time.Millisecond).Round(time.Second)),
		WebhookEventType: payloads.LabelSubmitted,
		body: func(uid string) ([]byte, error) {
			return payloads.Marshal(uid, payloads.LabelSubmitted, d.OccurredAt, p)
		},
	}}
}

// FromLabelReviewed returns the label_approved or label_rejected occurrence of a review.
func FromLabelReviewed(d activity.LabelReviewed) []Occurrence {
	ev, eventType := notifications.LabelApproved, payloads.LabelApproved
	if d.Outcome == activity.OutcomeRejected {
		ev, eventType = notifications.LabelRejected, payloads.LabelRejected
	}
	p := payloads.LabelReviewedPayload{
		ProjectHash: d.ProjectHash, TaskID: d.TaskID, DataHash: d.DataHash, LabelHash: d.LabelHash,
		Reviewer: user(d.Reviewer), Annotator: user(d.Annotator), Outcome: d.Outcome, TimeSpentMS: d.TimeSpentMS,
	}
	return []Occurrence{{
		Event: ev, TenantID: d.TenantID, ProjectHash: d.ProjectHash,
		Key:        key(activity.DetailLabelReviewed, d.TenantID, d.ProjectHash, d.LabelHash, d.Outcome, d.Reviewer.UserHash, d.OccurredAt.UTC().Format(time.RFC3339Nano)),
		OccurredAt: d.OccurredAt, TaskID: d.TaskID, LabelHash: d.LabelHash, Actor: d.Reviewer.Email,
		Summary:          fmt.Sprintf("%s %s label %s by %s on task %s.", d.Reviewer.Email, d.Outcome, short(d.LabelHash), d.Annotator.Email, short(d.TaskID)),
		WebhookEventType: eventType,
		body: func(uid string) ([]byte, error) {
			return payloads.Marshal(uid, eventType, d.OccurredAt, p)
		},
	}}
}

// FromTaskAssigned returns the task_assigned occurrence of an assignment.
func FromTaskAssigned(d activity.TaskAssigned) []Occurrence {
	p := payloads.TaskAssignedPayload{
		ProjectHash: d.ProjectHash, TaskID: d.TaskID, DataHash: d.DataHash,
		Stage:    payloads.Stage{UUID: d.Stage.UUID, Type: string(d.Stage.Type), Title: d.Stage.Title},
		Assignee: user(d.Assignee),
	}
	by, actor := "", d.Assignee.Email
	if d.AssignedBy != nil {
		u := user(*d.AssignedBy)
		p.AssignedBy = &u
		by, actor = " by "+d.AssignedBy.Email, d.AssignedBy.Email
	}
	return []Occurrence{{
		Event: notifications.TaskAssigned, TenantID: d.TenantID, ProjectHash: d.ProjectHash,
		Key:        key(activity.DetailTaskAssigned, d.TenantID, d.ProjectHash, d.TaskID, d.Stage.UUID, d.Assignee.UserHash, d.OccurredAt.UTC().Format(time.RFC3339Nano)),
		OccurredAt: d.OccurredAt, TaskID: d.TaskID, Actor: actor,
		Summary:          fmt.Sprintf("Task %s in %s was assigned to %s%s.", short(d.TaskID), stageName(&d.Stage), d.Assignee.Email, by),
		WebhookEventType: payloads.TaskAssigned,
		body: func(uid string) ([]byte, error) {
			return payloads.Marshal(uid, payloads.TaskAssigned, d.OccurredAt, p)
		},
	}}
}
