// Package stagehooks is the policy of workflow-stage webhooks: which stages take them, which
// transition fires which event, what the payload says, and which jobs a transition produces.
package stagehooks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"time"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/outbound"
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
// and not from which store they talk to. The configuration stores report the same kinds for
// notifications (shared/notifications re-exports them), so one mapping at the edge serves both.
var (
	// ErrInvalid marks input that fails validation; FieldError says which field and why.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound means nothing has that id in that tenant (or it is not of the kind asked
	// for: a notification's webhook is not found by the stage-webhook methods).
	ErrNotFound = errors.New("not found")
	// ErrExists means something with that id already exists in that tenant.
	ErrExists = errors.New("already exists")
	// ErrVersionConflict means an update or delete named a version that is no longer the
	// stored one: someone else changed the resource since the caller read it.
	ErrVersionConflict = errors.New("version conflict")
	// ErrDuplicateURL means another stage webhook of the tenant already has that URL on that
	// project stage.
	ErrDuplicateURL = errors.New("another webhook on this stage has that URL")
	// ErrInvalidCursor means a page cursor was not issued by this list for this tenant. It
	// comes wrapped with a FieldError for "cursor", so it is ErrInvalid too.
	ErrInvalidCursor = errors.New("invalid page cursor")
)

// FieldError names the field at fault and the reason, for API clients and logs alike.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Is lets callers test for ErrInvalid without caring which field.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// FieldErrors returns every FieldError in err's tree, in order: validators that check a whole
// document return them joined (errors.Join), and an API echoes all of them at once.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

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
	Secrets []string
	// PreviousSecretExpiresAt ends a rotation: from then on deliveries are signed with
	// Secrets[0] only (see LiveSecrets). Zero when no rotation is under way.
	PreviousSecretExpiresAt time.Time
	Enabled                 bool
	DisabledReason          string
	// RateLimitPerSecond caps the attempts sent to the webhook in any second; 0 sends them as
	// fast as they come. Deliveries over it wait their turn without spending an attempt.
	RateLimitPerSecond int
	// AlertEmail is told when Herald disables the webhook for failing; "" tells no one by
	// email (the bus event and the API still do).
	AlertEmail string
	// Ordered asks for deliveries in the order Herald accepted their events: a failing
	// delivery holds back the later ones of this webhook, and only of this one, until it
	// succeeds or is dead-lettered. Jobs take it when they are created (delivery.Job.Ordered),
	// so a change applies to events routed after it; a warm router may route with its cached
	// view of the stage for up to its configuration cache's TTL.
	Ordered bool
	// Version is 1 when created and grows by one with every change, the delivery path's
	// DisableWebhook included; it is the API's ETag, and updates name the version they read.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Updated returns the stored webhook w as an update asks to change it: URL, Enabled, Secrets,
// PreviousSecretExpiresAt, RateLimitPerSecond, AlertEmail and Ordered come from change; id,
// tenant, owner, project, stage, type and creation time stay. DisabledReason is cleared when
// enabled (a disabled one keeps its reason unless change gives another), Version grows by one,
// and UpdatedAt is change.UpdatedAt, or now when that is zero. Both stores apply it, so an
// update means the same on each.
func (w Webhook) Updated(change Webhook, now time.Time) Webhook {
	next := w
	next.URL, next.Enabled = change.URL, change.Enabled
	next.Secrets, next.PreviousSecretExpiresAt = change.Secrets, change.PreviousSecretExpiresAt
	next.RateLimitPerSecond, next.AlertEmail, next.Ordered = change.RateLimitPerSecond, change.AlertEmail, change.Ordered
	switch {
	case change.Enabled:
		next.DisabledReason = ""
	case change.DisabledReason != "":
		next.DisabledReason = change.DisabledReason
	}
	next.Version = w.Version + 1
	next.UpdatedAt = change.UpdatedAt
	if next.UpdatedAt.IsZero() {
		next.UpdatedAt = now
	}
	next.UpdatedAt = next.UpdatedAt.UTC()
	return next
}

// LiveSecrets returns the secrets that still sign deliveries at now: all of them during a
// rotation, only the newest once the previous one has expired. The stores apply it when the
// delivery path reads an endpoint, so a rotation ends on time without a write.
func LiveSecrets(secrets []string, previousExpiresAt, now time.Time) []string {
	if len(secrets) > 1 && !previousExpiresAt.IsZero() && !now.Before(previousExpiresAt) {
		return secrets[:1]
	}
	return secrets
}

// keyPart matches the identifiers that become parts of store keys. Keys join parts with '#',
// so a part must never contain one.
var keyPart = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// Validate checks the fields the domain relies on and returns every problem at once, joined
// (FieldErrors lists them). URL reachability and address safety are checked by the caller that
// saves it, which knows whether the local-only flags apply; the URL's length is the rule every
// webhook shares (outbound.CheckURLLength).
func (w Webhook) Validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"id", w.ID}, {"tenant_id", w.TenantID}, {"owner_id", w.OwnerID},
		{"project_hash", w.ProjectHash}, {"stage_uuid", w.StageUUID},
	} {
		if !keyPart.MatchString(f.value) {
			errs = append(errs, &FieldError{Field: f.name, Reason: "must be 1 to 128 letters, digits, '-' or '_'"})
		}
	}
	if _, err := ParseStageType(string(w.StageType)); err != nil {
		errs = append(errs, err)
	}
	if err := URLFieldError("url", w.URL); err != nil {
		errs = append(errs, err)
	}
	if len(w.Secrets) == 0 {
		errs = append(errs, &FieldError{Field: "secrets", Reason: "at least one signing secret is required"})
	}
	if err := RateLimitFieldError("rate_limit_per_second", w.RateLimitPerSecond); err != nil {
		errs = append(errs, err)
	}
	if w.AlertEmail != "" {
		if reason := EmailReason(w.AlertEmail); reason != "" {
			errs = append(errs, &FieldError{Field: "alert_email", Reason: reason})
		}
	}
	return errors.Join(errs...)
}

// EmailReason says why e is not an address Herald mails, or "" when it is: a plain address
// (no display name), as the notifications' email channel and a webhook's alert_email take.
func EmailReason(e string) string {
	const bare = "must be a plain email address such as qa@example.com"
	if len(e) > 254 {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return bare
	}
	return ""
}

// MaxRateLimitPerSecond is the highest rate limit a webhook may set.
const MaxRateLimitPerSecond = 10_000

// RateLimitFieldError applies the rule of every webhook's rate limit and names field when it
// fails.
func RateLimitFieldError(field string, perSecond int) error {
	if perSecond < 0 || perSecond > MaxRateLimitPerSecond {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be from 1 to %d deliveries a second, or 0 for no limit", MaxRateLimitPerSecond)}
	}
	return nil
}

// URLFieldError applies the length rule of every webhook URL, stage or notification, and
// names field when it fails.
func URLFieldError(field, url string) error {
	var ue *outbound.URLError
	if err := outbound.CheckURLLength(url); errors.As(err, &ue) {
		return &FieldError{Field: field, Reason: ue.Reason}
	}
	return nil
}

// Page sizes of the list methods.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 100
)

// PageRequest asks for one page of a list ordered by id: Limit items (0 means
// DefaultPageLimit) after the position Cursor names ("" for the first page).
type PageRequest struct {
	Cursor string
	Limit  int
}

// Size is the page size asked for, or a FieldError for "limit".
func (p PageRequest) Size() (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultPageLimit, nil
	case p.Limit < 1 || p.Limit > MaxPageLimit:
		return 0, &FieldError{Field: "limit", Reason: fmt.Sprintf("must be 1 to %d", MaxPageLimit)}
	}
	return p.Limit, nil
}

// Resolve checks the page size and decodes the cursor of one tenant's list, the preamble of
// every paged query on every store.
func (p PageRequest) Resolve(tenant, list string) (size int, after string, err error) {
	if size, err = p.Size(); err != nil {
		return 0, "", err
	}
	if after, err = DecodeCursor(p.Cursor, tenant, list); err != nil {
		return 0, "", err
	}
	return size, after, nil
}

// WebhookPage is one page of a tenant's stage webhooks; NextCursor is "" on the last page.
type WebhookPage struct {
	Items      []Webhook
	NextCursor string
}

// Lists that cursors are bound to, so a cursor of one list is refused by another.
const (
	ListStageWebhooks = "webhooks"
	ListNotifications = "notifications"
)

// cursor is what an opaque page cursor holds: the id of the last item served, bound to the list
// and to a digest of the tenant. The id alone would leak nothing (every query is confined to the
// caller's tenant), but a cursor replayed by another tenant, or on another list, is refused
// instead of silently starting somewhere odd.
type cursor struct {
	List   string `json:"l"`
	Tenant string `json:"t"`
	After  string `json:"a"`
}

func tenantDigest(tenant string) string {
	sum := sha256.Sum256([]byte(tenant))
	return hex.EncodeToString(sum[:8])
}

// EncodeCursor returns the opaque cursor of the page that follows the item lastID of a
// tenant's list.
func EncodeCursor(tenant, list, lastID string) string {
	b, _ := json.Marshal(cursor{List: list, Tenant: tenantDigest(tenant), After: lastID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the id a cursor continues after ("" for an empty cursor), or
// ErrInvalidCursor (with a FieldError for "cursor") when it was not made by EncodeCursor for
// this tenant and list.
func DecodeCursor(raw, tenant, list string) (string, error) {
	if raw == "" {
		return "", nil
	}
	bad := fmt.Errorf("%w: %w", ErrInvalidCursor, &FieldError{Field: "cursor", Reason: "is not a cursor this list issued; start again without one"})
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return "", bad
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.List != list || c.Tenant != tenantDigest(tenant) || !keyPart.MatchString(c.After) {
		return "", bad
	}
	return c.After, nil
}

// Target is what the router needs of a webhook: no URL, no secret.
type Target struct {
	TenantID  string
	WebhookID string
	Enabled   bool
	// Ordered is the webhook's Ordered: its jobs go to the ordered queue.
	Ordered bool
}

// ValidID reports whether s can be a tenant or user id: 1 to 128 letters, digits, '-' or '_'.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
