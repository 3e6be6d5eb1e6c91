package notifications

import (
	"slices"

	"github.com/heraldhq/herald/events/stagetransition"
)

// EventType is a reactive trigger a notification can subscribe to.
type EventType string

// The reactive events of Manual QA notifications. Values are stored and sent to API clients, so
// they never change once published.
const (
	TaskSubmitted  EventType = "task_submitted"
	TaskCompleted  EventType = "task_completed"
	LabelSubmitted EventType = "label_submitted"
	LabelApproved  EventType = "label_approved"
	LabelRejected  EventType = "label_rejected"
	TaskAssigned   EventType = "task_assigned"
)

// EventInfo describes one event type for the API's catalogue and the UI's info icon.
type EventInfo struct {
	Type EventType
	// Description is one line on when the event fires.
	Description string
	// Source names the inbound events that produce it.
	Source string
	// Produced is false while no event the platform publishes produces it: notifications may
	// subscribe to it, and it fires once the platform publishes its source.
	Produced bool
}

var catalogue = []EventInfo{
	{
		Type:        TaskSubmitted,
		Description: "An annotator submitted a task: it left an Annotate stage.",
		Source:      `"Task Stage Transition" whose from_stage is an annotate or consensus_annotate stage`,
		Produced:    true,
	},
	{
		Type:        TaskCompleted,
		Description: "A task reached a Complete stage.",
		Source:      `"Task Stage Transition" whose to_stage is a complete stage`,
		Produced:    true,
	},
	{
		Type:        LabelApproved,
		Description: "A reviewer approved a task's labels: it left a Review stage towards a later stage.",
		Source:      `"Task Stage Transition" from a review, strict_review or consensus_review stage to any stage but an annotate, consensus_annotate or archive one`,
		Produced:    true,
	},
	{
		Type:        LabelRejected,
		Description: "A reviewer rejected a task's labels: it was returned from a Review stage to an Annotate stage.",
		Source:      `"Task Stage Transition" from a review, strict_review or consensus_review stage to an annotate or consensus_annotate stage`,
		Produced:    true,
	},
	{
		Type: LabelSubmitted,
		Description: "A label was submitted outside a workflow stage transition. Not produced yet: the platform " +
			"does not publish label events, so this trigger never fires until it does.",
		Source:   "none yet: needs a label-submitted event the platform does not publish",
		Produced: false,
	},
	{
		Type: TaskAssigned,
		Description: "A task was assigned to a user. Not produced yet: the platform does not publish " +
			"assignment events, so this trigger never fires until it does.",
		Source:   "none yet: needs a task-assigned event the platform does not publish",
		Produced: false,
	},
}

// Catalogue returns every event type a notification can subscribe to, with when it fires and
// what produces it.
func Catalogue() []EventInfo { return slices.Clone(catalogue) }

// Known reports whether t is in the catalogue.
func Known(t EventType) bool {
	return slices.ContainsFunc(catalogue, func(e EventInfo) bool { return e.Type == t })
}

func isAnnotate(s stagetransition.StageType) bool {
	return s == stagetransition.Annotate || s == stagetransition.ConsensusAnnotate
}

func isReview(s stagetransition.StageType) bool {
	return s == stagetransition.Review || s == stagetransition.StrictReview || s == stagetransition.ConsensusReview
}

// EventsOf returns the notification events one stage transition produces, as the catalogue
// describes them. A task sent straight from Annotate to Complete is both submitted and
// completed; one leaving Review for Complete is both approved and completed.
func EventsOf(d stagetransition.Detail) []EventType {
	var out []EventType
	from, to := d.FromStage, d.ToStage.Type
	if from != nil && isAnnotate(from.Type) {
		out = append(out, TaskSubmitted)
	}
	if from != nil && isReview(from.Type) {
		switch {
		case isAnnotate(to):
			out = append(out, LabelRejected)
		case to != stagetransition.Archive:
			out = append(out, LabelApproved)
		}
	}
	if to == stagetransition.Complete {
		out = append(out, TaskCompleted)
	}
	return out
}
