// Package parse validates the detail of a "Label Submitted", "Label Reviewed" or "Task
// Assigned" event against its JSON Schema before it becomes a Go value, so the notification
// router never handles unvalidated input. Rejections are *stagetransition.InvalidError, with
// the same reasons as a stage transition's.
package parse

import (
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/events/activity"
	"github.com/heraldhq/herald/events/internal/schemacheck"
	"github.com/heraldhq/herald/events/stagetransition"
)

// Detail validates raw against the schema of detailType and returns it decoded: an
// activity.LabelSubmitted, activity.LabelReviewed or activity.TaskAssigned.
func Detail(detailType string, raw []byte) (any, error) {
	switch detailType {
	case activity.DetailLabelSubmitted:
		return decode[activity.LabelSubmitted](labelSubmitted(), raw)
	case activity.DetailLabelReviewed:
		return decode[activity.LabelReviewed](labelReviewed(), raw)
	case activity.DetailTaskAssigned:
		return decode[activity.TaskAssigned](taskAssigned(), raw)
	}
	return nil, invalid(stagetransition.ReasonWrongDetailType, "detail-type %q is not one of %v", detailType, activity.DetailTypes())
}

var (
	labelSubmitted = schemacheck.Lazy("label-submitted.schema.json", activity.Schema(activity.DetailLabelSubmitted))
	labelReviewed  = schemacheck.Lazy("label-reviewed.schema.json", activity.Schema(activity.DetailLabelReviewed))
	taskAssigned   = schemacheck.Lazy("task-assigned.schema.json", activity.Schema(activity.DetailTaskAssigned))
)

type validator interface{ Validate(v any) error }

func decode[T any](schema validator, raw []byte) (T, error) {
	var out T
	doc, err := schemacheck.Decode(raw)
	if err != nil {
		return out, invalid(stagetransition.ReasonMalformedJSON, "detail is not JSON: %v", err)
	}
	if reason, msg := specificProblem(doc); reason != "" {
		return out, invalid(reason, "%s", msg)
	}
	if err := schema.Validate(doc); err != nil {
		return out, invalid(stagetransition.ReasonSchemaViolation, "%s", schemacheck.Flatten(err))
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		// The schema admits it, so only out-of-range values (an hour of 25) get here.
		return out, invalid(stagetransition.ReasonSchemaViolation, "decode detail: %v", err)
	}
	return out, nil
}

// specificProblem names the mistakes that deserve their own reason before the schema check
// reports them as a violation.
func specificProblem(doc any) (stagetransition.Reason, string) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return stagetransition.ReasonSchemaViolation, "detail must be a JSON object"
	}
	if v, present := obj["schema_version"]; present {
		if n, ok := v.(json.Number); !ok || n.String() != fmt.Sprint(activity.SchemaVersion) {
			return stagetransition.ReasonUnsupportedVersion, fmt.Sprintf("schema_version %v is not supported (want %d)", v, activity.SchemaVersion)
		}
	}
	if v, present := obj["tenant_id"]; !present || v == nil || v == "" {
		return stagetransition.ReasonMissingTenant, "tenant_id is missing: every event names the tenant that owns its project"
	}
	return "", ""
}

func invalid(reason stagetransition.Reason, format string, args ...any) error {
	return &stagetransition.InvalidError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
