// Package stagetransition is the contract of the event the annotation platform publishes to
// EventBridge whenever a task moves between workflow stages. schema.json is the normative
// definition; the Go types mirror it so that the router never handles unvalidated input.
package stagetransition

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
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
// bytes would fail the same way.
type InvalidError struct {
	Reason Reason
	Detail string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid stage transition event (%s): %s", e.Reason, e.Detail)
}

func invalid(reason Reason, format string, args ...any) error {
	return &InvalidError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
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

// compiledSchema compiles the schema on first use, not at package init: compiling took about 13
// of the router's 22 ms of cold-start init, and a function that never sees an event (the API
// function links this package for test events) should not pay it.
var compiledSchema = sync.OnceValue(mustCompileSchema)

func mustCompileSchema() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		panic(fmt.Sprintf("embedded schema.json does not parse: %v", err))
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		panic(fmt.Sprintf("embedded schema.json: %v", err))
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		panic(fmt.Sprintf("embedded schema.json does not compile: %v", err))
	}
	return s
}

// ParseDetail validates raw detail JSON against the schema and returns it decoded. Errors are
// *InvalidError with the most specific reason available, so an operator can see at a glance
// whether a producer sent an unknown stage kind or forgot the hashes.
func ParseDetail(raw []byte) (Detail, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return Detail{}, invalid(ReasonMalformedJSON, "detail is not JSON: %v", err)
	}
	if reason, msg := specificProblem(doc); reason != "" {
		return Detail{}, invalid(reason, "%s", msg)
	}
	if err := compiledSchema().Validate(doc); err != nil {
		return Detail{}, invalid(ReasonSchemaViolation, "%s", flattenSchemaError(err))
	}
	var d Detail
	if err := json.Unmarshal(raw, &d); err != nil {
		// The schema admits it, so this only happens for out-of-range values such as a
		// timestamp with an hour of 25.
		return Detail{}, invalid(ReasonSchemaViolation, "decode detail: %v", err)
	}
	return d, nil
}

// specificProblem looks for the mistakes that deserve their own reason before the generic
// schema check reports them as a violation. doc is untyped JSON as decoded by the schema
// library, so every access is checked.
func specificProblem(doc any) (Reason, string) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return ReasonSchemaViolation, "detail must be a JSON object"
	}
	if v, present := obj["schema_version"]; present {
		if n, ok := v.(json.Number); !ok || n.String() != fmt.Sprint(SchemaVersion) {
			return ReasonUnsupportedVersion, fmt.Sprintf("schema_version %v is not supported (want %d)", v, SchemaVersion)
		}
	}
	if v, present := obj["tenant_id"]; !present || v == nil || v == "" {
		return ReasonMissingTenant, "tenant_id is missing: every event names the tenant that owns its project"
	}
	for _, field := range []string{"from_stage", "to_stage"} {
		stage, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		if t, ok := stage["type"].(string); ok && !knownStageTypes[StageType(t)] {
			return ReasonUnknownStageType, fmt.Sprintf("%s.type %q is not a known stage type", field, t)
		}
	}
	for _, field := range []string{"data_hashes", "label_hashes"} {
		v, present := obj[field]
		if !present || v == nil {
			return ReasonMissingHashes, field + " is missing"
		}
		if arr, ok := v.([]any); ok && len(arr) == 0 {
			return ReasonMissingHashes, field + " is empty"
		}
	}
	return "", ""
}

func flattenSchemaError(err error) string {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	var msgs []string
	for _, unit := range verr.BasicOutput().Errors {
		if unit.Error == nil {
			continue
		}
		loc := unit.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		msgs = append(msgs, fmt.Sprintf("at %s: %s", loc, unit.Error.String()))
	}
	if len(msgs) == 0 {
		return verr.Error()
	}
	return strings.Join(msgs, "; ")
}
