// Package payloads is the format of what Herald sends to webhooks: one envelope (uid, version,
// source, event_type, event_created_timestamp, payload) around one payload per event type.
// task_submitted_event and task_completed_event are the platform's documented payloads, field
// for field; the notification events have payloads of Herald's. Each event type has a JSON
// Schema here (<event_type>.schema.json), which receivers can validate against and a test
// holds every payload Herald builds to.
package payloads

import (
	"bytes"
	"embed"
	"encoding/json"
	"time"
)

// Event types sent to webhooks.
const (
	TaskSubmitted  = "task_submitted_event"
	TaskCompleted  = "task_completed_event"
	LabelSubmitted = "label_submitted_event"
	LabelApproved  = "label_approved_event"
	LabelRejected  = "label_rejected_event"
	TaskAssigned   = "task_assigned_event"
	Digest         = "digest_event"
)

// EventTypes lists every event type of this package.
func EventTypes() []string {
	return []string{TaskSubmitted, TaskCompleted, LabelSubmitted, LabelApproved, LabelRejected, TaskAssigned, Digest}
}

// Version is the major version of the format; it changes only with a backwards-incompatible
// change.
const Version = 1

// Source is always "Encord": receivers built against the platform check it.
const Source = "Encord"

// timestampLayout renders 2024-03-25T15:18:55.406529+00:00 as in the documented examples:
// always six fractional digits and a numeric offset, never "Z".
const timestampLayout = "2006-01-02T15:04:05.000000-07:00"

// Field order in these structs is the documented order; encoding/json keeps it, so bodies
// read like the documentation's examples.
type envelope[T any] struct {
	UID                   string `json:"uid"`
	Version               int    `json:"version"`
	Source                string `json:"source"`
	EventType             string `json:"event_type"`
	EventCreatedTimestamp string `json:"event_created_timestamp"`
	Payload               T      `json:"payload"`
}

// Marshal renders one webhook body: payload in the envelope.
func Marshal[T any](uid, eventType string, created time.Time, payload T) ([]byte, error) {
	return json.Marshal(envelope[T]{
		UID: uid, Version: Version, Source: Source, EventType: eventType,
		EventCreatedTimestamp: created.UTC().Format(timestampLayout), Payload: payload,
	})
}

// TaskSubmittedPayload is the documented payload of task_submitted_event.
type TaskSubmittedPayload struct {
	ProjectHash string   `json:"project_hash"`
	DataHashes  []string `json:"data_hashes"`
	LabelHashes []string `json:"label_hashes"`
}

// TaskCompletedPayload is the documented payload of task_completed_event.
type TaskCompletedPayload struct {
	LabelHash   string `json:"label_hash"`
	ProjectHash string `json:"project_hash"`
	DataHash    string `json:"data_hash"`
}

// User is a user of the platform.
type User struct {
	UserHash string `json:"user_hash"`
	Email    string `json:"email"`
}

// LabelSubmittedPayload is the payload of label_submitted_event.
type LabelSubmittedPayload struct {
	ProjectHash string `json:"project_hash"`
	TaskID      string `json:"task_id"`
	DataHash    string `json:"data_hash"`
	LabelHash   string `json:"label_hash"`
	Annotator   User   `json:"annotator"`
	Kind        string `json:"kind"`
	TimeSpentMS int64  `json:"time_spent_ms"`
}

// LabelReviewedPayload is the payload of label_approved_event and label_rejected_event.
type LabelReviewedPayload struct {
	ProjectHash string `json:"project_hash"`
	TaskID      string `json:"task_id"`
	DataHash    string `json:"data_hash"`
	LabelHash   string `json:"label_hash"`
	Reviewer    User   `json:"reviewer"`
	Annotator   User   `json:"annotator"`
	Outcome     string `json:"outcome"`
	TimeSpentMS int64  `json:"time_spent_ms"`
}

// Stage is a workflow stage.
type Stage struct {
	UUID  string `json:"uuid"`
	Type  string `json:"type"`
	Title string `json:"title"`
}

// TaskAssignedPayload is the payload of task_assigned_event.
type TaskAssignedPayload struct {
	ProjectHash string `json:"project_hash"`
	TaskID      string `json:"task_id"`
	DataHash    string `json:"data_hash"`
	Stage       Stage  `json:"stage"`
	Assignee    User   `json:"assignee"`
	// AssignedBy is null when the platform assigned the task by itself.
	AssignedBy *User `json:"assigned_by"`
}

// DigestPayload is the payload of digest_event: the activity of a notification's projects over
// one period.
type DigestPayload struct {
	Period        Period         `json:"period"`
	ProjectsStats []ProjectStats `json:"projects_stats"`
	// Part is set when the digest is too large for one event and is sent as several, each
	// with whole projects: this is part Number of Of.
	Part *DigestPart `json:"part,omitempty"`
}

// DigestPart numbers one event of a digest sent in several.
type DigestPart struct {
	Number int `json:"number"`
	Of     int `json:"of"`
}

// Period is a span of time, start included and end excluded, in the envelope's timestamp
// format.
type Period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// NewPeriod renders [start, end).
func NewPeriod(start, end time.Time) Period {
	return Period{Start: start.UTC().Format(timestampLayout), End: end.UTC().Format(timestampLayout)}
}

// ProjectStats is one project's activity in a digest; a project without activity has empty
// lists.
type ProjectStats struct {
	ProjectHash    string           `json:"project_hash"`
	AnnotatorStats []AnnotatorStats `json:"annotator_stats"`
	ReviewerStats  []ReviewerStats  `json:"reviewer_stats"`
}

// AnnotatorStats is one annotator's labels in a period. Times are milliseconds; a pointer is
// null when there was nothing to average.
type AnnotatorStats struct {
	UserEmail       string   `json:"user_email"`
	SubmittedLabels int      `json:"submitted_labels"`
	AcceptedLabels  int      `json:"accepted_labels"`
	RejectedLabels  int      `json:"rejected_labels"`
	AvgTimeForAdd   *int64   `json:"avg_time_for_add"`
	AvgTimeForEdit  *int64   `json:"avg_time_for_edit"`
	RejectionRate   *float64 `json:"rejection_rate"`
}

// ReviewerStats is one reviewer's reviews in a period.
type ReviewerStats struct {
	UserEmail        string `json:"user_email"`
	ReviewedLabels   int    `json:"reviewed_labels"`
	ApprovedLabels   int    `json:"approved_labels"`
	RejectedLabels   int    `json:"rejected_labels"`
	AvgTimeForReview *int64 `json:"avg_time_for_review"`
}

//go:embed *.schema.json
var schemas embed.FS

// Schema returns the JSON Schema of an event type's body, nil for an unknown type.
func Schema(eventType string) []byte {
	b, err := schemas.ReadFile(eventType + ".schema.json")
	if err != nil {
		return nil
	}
	return bytes.Clone(b)
}
