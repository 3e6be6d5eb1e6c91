// Package stagehooks is the policy of workflow-stage webhooks: which stages take them, which
// transition fires which event, what the payload says, and which jobs a transition produces.
package stagehooks

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/heraldhq/herald/events/stagetransition"
)

// StageType is a kind of workflow stage that accepts webhooks.
type StageType string

// Only Annotate and Complete stages take webhooks: an Annotate webhook fires when a task is
// submitted, a Complete webhook when a task completes.
const (
	StageAnnotate StageType = StageType(stagetransition.Annotate)
	StageComplete StageType = StageType(stagetransition.Complete)
)

// Error kinds every store reports, so callers decide (an HTTP status, a retry) from the kind
// and not from which store they talk to.
var (
	// ErrInvalid marks a webhook that fails validation; FieldError says which field and why.
	ErrInvalid = errors.New("invalid webhook")
	// ErrNotFound means no webhook has that id in that tenant.
	ErrNotFound = errors.New("webhook not found")
	// ErrExists means a webhook with that id already exists in that tenant.
	ErrExists = errors.New("webhook already exists")
)

// FieldError names the field at fault and the reason, for API clients and logs alike.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Is lets callers test for ErrInvalid without caring which field.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// ParseStageType accepts only the stage kinds that take webhooks.
func ParseStageType(s string) (StageType, error) {
	switch t := StageType(s); t {
	case StageAnnotate, StageComplete:
		return t, nil
	default:
		return "", &FieldError{Field: "stage_type", Reason: fmt.Sprintf("%q stages do not accept webhooks; only annotate and complete do", s)}
	}
}

// Webhook is a stage webhook's configuration.
type Webhook struct {
	ID          string
	TenantID    string
	OwnerID     string
	ProjectHash string
	StageUUID   string
	StageType   StageType
	URL         string
	// Secrets sign deliveries, newest first; more than one only during a rotation.
	Secrets        []string
	Enabled        bool
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// keyPart matches the identifiers that become parts of store keys. Keys join parts with '#',
// so a part must never contain one.
var keyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Validate checks the fields the domain relies on. URL reachability and address safety are
// checked by the caller that saves it, which knows whether the local-only flags apply.
func (w Webhook) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"id", w.ID}, {"tenant_id", w.TenantID}, {"owner_id", w.OwnerID},
		{"project_hash", w.ProjectHash}, {"stage_uuid", w.StageUUID},
	} {
		if !keyPart.MatchString(f.value) {
			return &FieldError{Field: f.name, Reason: "must be 1 to 128 letters, digits, '-' or '_'"}
		}
	}
	if _, err := ParseStageType(string(w.StageType)); err != nil {
		return err
	}
	if w.URL == "" {
		return &FieldError{Field: "url", Reason: "is required"}
	}
	if len(w.Secrets) == 0 {
		return &FieldError{Field: "secrets", Reason: "at least one signing secret is required"}
	}
	return nil
}

// Target is what the router needs of a webhook: no URL, no secret.
type Target struct {
	TenantID  string
	WebhookID string
	Enabled   bool
}
