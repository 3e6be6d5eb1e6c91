// Package stagetransition is the contract of the event the annotation platform publishes to
// EventBridge whenever a task moves between workflow stages. schema.json is the normative
// definition; the Go types mirror it, and package parse validates a detail against the schema
// before it becomes a Detail, so that the router never handles unvalidated input. The parser
// is a package of its own because the JSON Schema library costs about 8 ms of cold start in
// every function that links it, and only the router parses events.
package stagetransition

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"time"
)

// DetailType is the EventBridge detail-type of a stage transition; the rule in template.yaml
// matches on it.
const DetailType = "Task Stage Transition"

// Source is the EventBridge source the platform publishes under.
const Source = "encord.workflow"

// SchemaVersion is the only detail schema version this build understands.
const SchemaVersion = 1

// StageType names the kind of a workflow stage.
type StageType string

// The stage kinds of the platform's workflows. Only Annotate and Complete carry webhooks, but
// every kind can appear in a transition.
const (
	Annotate          StageType = "annotate"
	Review            StageType = "review"
	ConsensusAnnotate StageType = "consensus_annotate"
	ConsensusReview   StageType = "consensus_review"
	StrictReview      StageType = "strict_review"
	Router            StageType = "router"
	Agent             StageType = "agent"
	Complete          StageType = "complete"
	Archive           StageType = "archive"
)

// KnownStageType reports whether t is a stage kind of the contract.
func KnownStageType(t StageType) bool { return knownStageTypes[t] }

var knownStageTypes = map[StageType]bool{
	Annotate: true, Review: true, ConsensusAnnotate: true, ConsensusReview: true,
	StrictReview: true, Router: true, Agent: true, Complete: true, Archive: true,
}

// Stage identifies one stage of a project's workflow.
type Stage struct {
	UUID  string    `json:"uuid"`
	Type  StageType `json:"type"`
	Title string    `json:"title"`
}

// Actor is the user whose action moved the task.
type Actor struct {
	UserHash string `json:"user_hash,omitempty"`
	Email    string `json:"email"`
}

// Detail is the validated detail of a "Task Stage Transition" event.
type Detail struct {
	SchemaVersion int `json:"schema_version"`
	// TenantID names the tenant that owns the project. Project hashes are the platform's and
	// any tenant can register a webhook on any hash, so the tenant, not the project, is what
	// confines an event to its owner's webhooks.
	TenantID    string   `json:"tenant_id"`
	ProjectHash string   `json:"project_hash"`
	TaskID      string   `json:"task_id"`
	DataHashes  []string `json:"data_hashes"`
	LabelHashes []string `json:"label_hashes"`
	// FromStage is nil when the task enters the workflow.
	FromStage  *Stage    `json:"from_stage,omitempty"`
	ToStage    Stage     `json:"to_stage"`
	Actor      Actor     `json:"actor"`
	OccurredAt time.Time `json:"occurred_at"`
}

// Reason is a stable, countable code for why an event was rejected. Metrics and logs use it
// as a dimension, so values never change once published.
type Reason string

// Rejection reasons.
const (
	ReasonMalformedJSON      Reason = "malformed_json"
	ReasonWrongDetailType    Reason = "wrong_detail_type"
	ReasonUnsupportedVersion Reason = "unsupported_schema_version"
	ReasonUnknownStageType   Reason = "unknown_stage_type"
	ReasonMissingHashes      Reason = "missing_hashes"
	ReasonMissingTenant      Reason = "missing_tenant"
	ReasonSchemaViolation    Reason = "schema_violation"
)

// InvalidError says why an event was rejected. Rejected events are never retried: the same
// bytes would fail the same way. The parsers of the other inbound contracts (package activity)
// return it too, so one rejection path serves every event.
type InvalidError struct {
	Reason Reason
	Detail string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid event (%s): %s", e.Reason, e.Detail)
}

// ReasonOf returns the rejection reason of err, or "" when err is not a rejection.
func ReasonOf(err error) Reason {
	var inv *InvalidError
	if errors.As(err, &inv) {
		return inv.Reason
	}
	return ""
}

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema document of the detail.
func Schema() []byte { return bytes.Clone(schemaJSON) }
