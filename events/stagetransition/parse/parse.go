// Package parse turns a raw "Task Stage Transition" detail into a stagetransition.Detail,
// validated against the contract's JSON Schema (stagetransition.Schema). Only the router links
// it: the schema library's package initialisation alone is about 8 ms of a cold start.
package parse

import (
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/events/internal/schemacheck"
	"github.com/heraldhq/herald/events/stagetransition"
)

// compiledSchema compiles the schema on first use, not at package init: compiling took about 13
// of the router's 22 ms of cold-start init, and a function that never sees an event (the API
// function links this package for test events) should not pay it.
var compiledSchema = schemacheck.Lazy("schema.json", stagetransition.Schema())

// Detail validates raw detail JSON against the schema and returns it decoded. Errors are
// *InvalidError with the most specific reason available, so an operator can see at a glance
// whether a producer sent an unknown stage kind or forgot the hashes.
func Detail(raw []byte) (stagetransition.Detail, error) {
	doc, err := schemacheck.Decode(raw)
	if err != nil {
		return stagetransition.Detail{}, invalid(stagetransition.ReasonMalformedJSON, "detail is not JSON: %v", err)
	}
	if reason, msg := specificProblem(doc); reason != "" {
		return stagetransition.Detail{}, invalid(reason, "%s", msg)
	}
	if err := compiledSchema().Validate(doc); err != nil {
		return stagetransition.Detail{}, invalid(stagetransition.ReasonSchemaViolation, "%s", schemacheck.Flatten(err))
	}
	var d stagetransition.Detail
	if err := json.Unmarshal(raw, &d); err != nil {
		// The schema admits it, so this only happens for out-of-range values such as a
		// timestamp with an hour of 25.
		return stagetransition.Detail{}, invalid(stagetransition.ReasonSchemaViolation, "decode detail: %v", err)
	}
	return d, nil
}

// specificProblem looks for the mistakes that deserve their own reason before the generic
// schema check reports them as a violation. doc is untyped JSON as decoded by the schema
// library, so every access is checked.
func specificProblem(doc any) (stagetransition.Reason, string) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return stagetransition.ReasonSchemaViolation, "detail must be a JSON object"
	}
	if v, present := obj["schema_version"]; present {
		if n, ok := v.(json.Number); !ok || n.String() != fmt.Sprint(stagetransition.SchemaVersion) {
			return stagetransition.ReasonUnsupportedVersion, fmt.Sprintf("schema_version %v is not supported (want %d)", v, stagetransition.SchemaVersion)
		}
	}
	if v, present := obj["tenant_id"]; !present || v == nil || v == "" {
		return stagetransition.ReasonMissingTenant, "tenant_id is missing: every event names the tenant that owns its project"
	}
	for _, field := range []string{"from_stage", "to_stage"} {
		stage, ok := obj[field].(map[string]any)
		if !ok {
			continue
		}
		if t, ok := stage["type"].(string); ok && !stagetransition.KnownStageType(stagetransition.StageType(t)) {
			return stagetransition.ReasonUnknownStageType, fmt.Sprintf("%s.type %q is not a known stage type", field, t)
		}
	}
	for _, field := range []string{"data_hashes", "label_hashes"} {
		v, present := obj[field]
		if !present || v == nil {
			return stagetransition.ReasonMissingHashes, field + " is missing"
		}
		if arr, ok := v.([]any); ok && len(arr) == 0 {
			return stagetransition.ReasonMissingHashes, field + " is empty"
		}
	}
	return "", ""
}

func invalid(reason stagetransition.Reason, format string, args ...any) error {
	return &stagetransition.InvalidError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
