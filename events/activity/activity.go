// Package activity is the contract of the events the annotation platform publishes about
// labels and assignments, beside the stage transitions of package stagetransition: "Label
// Submitted", "Label Reviewed" and "Task Assigned". Each detail type has a JSON Schema here
// (the normative definition); the Go types mirror it, and package parse validates a detail
// against its schema before it becomes one of them. They feed the notification triggers
// label_submitted, label_approved, label_rejected and task_assigned, and the statistics of
// digests.
package activity

import (
	"bytes"
	_ "embed"
	"time"

	"github.com/heraldhq/herald/events/stagetransition"
)

// Detail types, as the EventBridge rules of template.yaml match them. The source is the
// stage transitions' (stagetransition.Source).
const (
	DetailLabelSubmitted = "Label Submitted"
	DetailLabelReviewed  = "Label Reviewed"
	DetailTaskAssigned   = "Task Assigned"
)

// SchemaVersion is the only detail schema version this build understands, for each type.
const SchemaVersion = 1

// User is a user of the platform, by hash and email.
type User struct {
	UserHash string `json:"user_hash"`
	Email    string `json:"email"`
}

// Submission kinds of a submitted label.
const (
	KindNew  = "new"
	KindEdit = "edit"
)

// LabelSubmitted is the validated detail of a "Label Submitted" event.
type LabelSubmitted struct {
	SchemaVersion int    `json:"schema_version"`
	TenantID      string `json:"tenant_id"`
	ProjectHash   string `json:"project_hash"`
	TaskID        string `json:"task_id"`
	DataHash      string `json:"data_hash"`
	LabelHash     string `json:"label_hash"`
	Annotator     User   `json:"annotator"`
	// Kind is KindNew or KindEdit: digests average the time of each separately.
	Kind        string    `json:"kind"`
	TimeSpentMS int64     `json:"time_spent_ms"`
	OccurredAt  time.Time `json:"occurred_at"`
}

// Review outcomes.
const (
	OutcomeApproved = "approved"
	OutcomeRejected = "rejected"
)

// LabelReviewed is the validated detail of a "Label Reviewed" event.
type LabelReviewed struct {
	SchemaVersion int    `json:"schema_version"`
	TenantID      string `json:"tenant_id"`
	ProjectHash   string `json:"project_hash"`
	TaskID        string `json:"task_id"`
	DataHash      string `json:"data_hash"`
	LabelHash     string `json:"label_hash"`
	Reviewer      User   `json:"reviewer"`
	// Annotator submitted the label: a rejection counts against them in digests.
	Annotator   User      `json:"annotator"`
	Outcome     string    `json:"outcome"`
	TimeSpentMS int64     `json:"time_spent_ms"`
	OccurredAt  time.Time `json:"occurred_at"`
}

// TaskAssigned is the validated detail of a "Task Assigned" event.
type TaskAssigned struct {
	SchemaVersion int                   `json:"schema_version"`
	TenantID      string                `json:"tenant_id"`
	ProjectHash   string                `json:"project_hash"`
	TaskID        string                `json:"task_id"`
	DataHash      string                `json:"data_hash"`
	Stage         stagetransition.Stage `json:"stage"`
	Assignee      User                  `json:"assignee"`
	AssignedBy    *User                 `json:"assigned_by,omitempty"`
	OccurredAt    time.Time             `json:"occurred_at"`
}

var (
	//go:embed label-submitted.schema.json
	labelSubmittedSchema []byte
	//go:embed label-reviewed.schema.json
	labelReviewedSchema []byte
	//go:embed task-assigned.schema.json
	taskAssignedSchema []byte
)

// Schema returns the JSON Schema of a detail type, nil for a type this package does not define.
func Schema(detailType string) []byte {
	switch detailType {
	case DetailLabelSubmitted:
		return bytes.Clone(labelSubmittedSchema)
	case DetailLabelReviewed:
		return bytes.Clone(labelReviewedSchema)
	case DetailTaskAssigned:
		return bytes.Clone(taskAssignedSchema)
	}
	return nil
}

// DetailTypes lists the detail types of this package.
func DetailTypes() []string {
	return []string{DetailLabelSubmitted, DetailLabelReviewed, DetailTaskAssigned}
}
