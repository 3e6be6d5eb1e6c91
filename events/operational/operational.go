// Package operational is the contract of the events Herald itself publishes to its event
// bus, so that the platform running it can react to them with rules of its own.
// endpoint-disabled.schema.json is the normative definition of the one there is today.
package operational

import (
	_ "embed"
	"time"
)

// Source is the EventBridge source of Herald's own events.
const Source = "herald"

// DetailTypeEndpointDisabled is published when the delivery path disables a webhook that
// failed every attempt for too long.
const DetailTypeEndpointDisabled = "Herald Endpoint Disabled"

// EndpointDisabled is the detail of a DetailTypeEndpointDisabled event. It names the webhook
// and why it was disabled; it carries the receiver's host but not its URL, whose path or
// query may hold a token, and never a secret.
type EndpointDisabled struct {
	TenantID  string `json:"tenant_id"`
	WebhookID string `json:"webhook_id"`
	// NotificationID is set for a notification's webhook; a stage webhook has none.
	NotificationID string    `json:"notification_id,omitempty"`
	OwnerID        string    `json:"owner_id"`
	EndpointHost   string    `json:"endpoint_host"`
	Reason         string    `json:"reason"`
	FailingSince   time.Time `json:"failing_since"`
	Failures       int       `json:"failures"`
	DisabledAt     time.Time `json:"disabled_at"`
}

// EndpointDisabledSchema is the JSON Schema of EndpointDisabled.
//
//go:embed endpoint-disabled.schema.json
var EndpointDisabledSchema []byte
