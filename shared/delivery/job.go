// Package delivery turns a delivery job into signed HTTP attempts and decides, from each
// attempt's outcome, whether the job is done, waits for another attempt, disables its webhook
// or goes to the dead-letter queue. It knows queues and stores only through the small
// interfaces it declares.
package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"errors"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Job is one webhook payload on its way to one endpoint; it is the body of a queue message.
// ID is the payload uid and the webhook-id header: it stays the same for every attempt and
// every redelivery, so receivers can deduplicate.
type Job struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	// Kind is where the job goes: KindWebhook (the zero value) or KindSlack.
	Kind Kind `json:"kind,omitempty"`
	// WebhookID names the endpoint within the tenant: a webhook's id, or for KindSlack a Slack
	// channel's id.
	WebhookID string `json:"webhook_id"`
	// OwnerID is the user whose Slack channel it is; set for KindSlack only, whose channels
	// are kept per user.
	OwnerID   string          `json:"owner_id,omitempty"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"`
	// Attempts is how many real attempts the job has had; the next one is number Attempts+1.
	// The count travels with the job, not with the queue's receive count: every retry is
	// sent as a new message that carries it, so a receive that made no attempt (a crashed or
	// timed-out batch, a throttled invocation, a graceful stop, our own store failing) never
	// spends one of the receiver's attempts.
	Attempts int `json:"attempts,omitempty"`
	// NotBefore is when the next attempt is due. A message received earlier (a queue delays
	// a message by 15 minutes at most) is kept invisible until then without an attempt.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Slot is the rate-limit slot the job holds for its next attempt (see RateLimiter); zero
	// when its webhook has no limit or it has none yet.
	Slot time.Time `json:"slot,omitzero"`
	// Ordered marks a job of a webhook that takes its deliveries in order: it rides the ordered
	// queue, in its webhook's message group (OrderGroup), and is kept in place while it waits
	// for a retry, holding back the later ones (see Processor).
	Ordered bool `json:"ordered,omitempty"`
}

// OrderGroup names the message group of an ordered job: one per endpoint, so that a failing
// webhook holds back its own deliveries only. It is a digest (64 hex digits) because a queue's
// group ids allow only a narrow alphabet and 128 characters, and ids of both tenant and
// webhook may use up to 128 each.
func (j Job) OrderGroup() string {
	h := sha256.New()
	for _, part := range [...]string{j.TenantID, string(j.Kind), j.OwnerID, j.WebhookID} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Kind is the sort of endpoint a job goes to.
type Kind string

// Endpoint kinds.
const (
	// KindWebhook is a signed POST to a stage or notification webhook; receivers deduplicate
	// on its webhook-id.
	KindWebhook Kind = ""
	// KindSlack is a message posted to a Slack channel's incoming webhook. Slack cannot
	// deduplicate, so the processor checks the attempt log before posting one again.
	KindSlack Kind = "slack"
)

// Ref returns the endpoint the job goes to.
func (j Job) Ref() EndpointRef {
	return EndpointRef{TenantID: j.TenantID, Kind: j.Kind, WebhookID: j.WebhookID, OwnerID: j.OwnerID}
}

// attempt is the log record of attempt number of j, made at at; the caller fills in how it
// went.
func (j Job) attempt(number int, at time.Time) Attempt {
	return Attempt{
		TenantID: j.TenantID, Kind: j.Kind, OwnerID: j.OwnerID, WebhookID: j.WebhookID, DeliveryID: j.ID,
		EventType: j.EventType, Number: number, At: at, Payload: j.Payload,
	}
}

// Validate reports a job that can never be delivered.
func (j Job) Validate() error {
	if err := j.validateFields(); err != nil {
		return err
	}
	if !json.Valid(j.Payload) {
		return errors.New("delivery job payload is not JSON")
	}
	return nil
}

func (j Job) validateFields() error {
	var missing []string
	for _, f := range [...]struct{ name, value string }{
		{"id", j.ID}, {"tenant_id", j.TenantID}, {"webhook_id", j.WebhookID}, {"event_type", j.EventType},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("delivery job lacks %v", missing)
	case len(j.Payload) == 0 || string(j.Payload) == "null":
		return errors.New("delivery job has no payload")
	case j.Attempts < 0:
		return errors.New("delivery job attempts is negative")
	case j.Kind != KindWebhook && j.Kind != KindSlack:
		return fmt.Errorf("delivery job kind %q is unknown", j.Kind)
	case j.Kind == KindSlack && j.OwnerID == "":
		return errors.New("slack delivery job lacks owner_id")
	}
	return nil
}

// DecodeJob parses a queue message body.
func DecodeJob(body []byte) (Job, error) {
	var j Job
	// One pass over the message (encoding/json validates it whole, then decodes it), with
	// v1's field matching, so that every job v1 wrote or read decodes the same.
	if err := jsonv2.Unmarshal(body, &j, jsonv1.DefaultOptionsV1()); err != nil {
		return Job{}, fmt.Errorf("decode delivery job: %w", err)
	}
	// Unmarshal has checked the payload is JSON; only its presence is left to check.
	if err := j.validateFields(); err != nil {
		return Job{}, err
	}
	return j, nil
}

// EndpointRef names an endpoint within its tenant.
type EndpointRef struct {
	TenantID  string
	Kind      Kind
	WebhookID string
	// OwnerID is set for KindSlack (see Job.OwnerID).
	OwnerID string
}

// Endpoint is what a delivery needs to know of a webhook at the moment of the attempt.
type Endpoint struct {
	URL     string
	Enabled bool
	// Secrets sign the delivery; more than one during a secret rotation.
	Secrets []string
	// FailingSince starts the webhook's failure streak (see HealthStore); zero when its last
	// attempt succeeded.
	FailingSince time.Time
	// RateLimitPerSecond caps the attempts it gets in any second (see RateLimiter); 0 is none.
	RateLimitPerSecond int
}

// Outcome is what became of a job after an attempt.
type Outcome string

// Outcomes recorded with each attempt.
const (
	OutcomeSucceeded    Outcome = "succeeded"
	OutcomeRetrying     Outcome = "retrying"
	OutcomeDeadLettered Outcome = "dead_lettered"
	OutcomeDisabled     Outcome = "webhook_disabled"
)

// Attempt is the record of one HTTP attempt, kept for the delivery log.
type Attempt struct {
	TenantID string
	// Kind and OwnerID are the job's: they say which endpoint WebhookID names (a webhook, or
	// a user's Slack channel), so that a redelivery goes where the delivery went.
	Kind       Kind
	OwnerID    string
	WebhookID  string
	DeliveryID string
	EventType  string
	Number     int
	At         time.Time
	StatusCode int
	Latency    time.Duration
	// ErrorClass is a stable code (see the Class constants); empty on success.
	ErrorClass Class
	// ResponseSnippet is the start of the receiver's response body, capped at SnippetLimit.
	ResponseSnippet string
	Outcome         Outcome
	// NextAttemptAt is set when Outcome is OutcomeRetrying.
	NextAttemptAt time.Time
	// Payload is the job's payload exactly as it was sent, so the delivery can be sent again
	// (see Redeliverer); nil when it was over MaxLoggedPayload.
	Payload json.RawMessage
}

// MaxLoggedPayload is the largest payload the attempt log keeps. 256 KiB is SQS's classic
// message limit, so no job should exceed it, and it keeps every attempt under DynamoDB's 400 KB
// item limit with room for the other fields. Stage-transition payloads are under 1 KiB.
const MaxLoggedPayload = 256 << 10
