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
	// subscribe to it, and it fires once the platform publishes its source. Every event of
	// the catalogue has a producer today; the field stays so that an API client can rely on
	// it when one is added ahead of its source.
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
		Type:        LabelSubmitted,
		Description: "An annotator submitted a label, new or edited, with the time spent on it.",
		Source:      `"Label Submitted"`,
		Produced:    true,
	},
	{
		Type:        LabelApproved,
		Description: "A reviewer approved a label.",
		Source:      `"Label Reviewed" whose outcome is approved`,
		Produced:    true,
	},
	{
		Type:        LabelRejected,
		Description: "A reviewer rejected a label, which goes back to its annotator.",
		Source:      `"Label Reviewed" whose outcome is rejected`,
		Produced:    true,
	},
	{
		Type:        TaskAssigned,
		Description: "A task of a workflow stage was assigned to a user.",
		Source:      `"Task Assigned"`,
		Produced:    true,
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

// EventsOf returns the notification events one stage transition produces, as the catalogue
// describes them. A task sent straight from Annotate to Complete is both submitted and
// completed. Reviews are told by "Label Reviewed" events, per label with their reviewer and
// annotator, not by the task's leaving a Review stage: one review would otherwise notify twice.
func EventsOf(d stagetransition.Detail) []EventType {
	var out []EventType
	if d.FromStage != nil && isAnnotate(d.FromStage.Type) {
		out = append(out, TaskSubmitted)
	}
	if d.ToStage.Type == stagetransition.Complete {
		out = append(out, TaskCompleted)
	}
	return out
}
