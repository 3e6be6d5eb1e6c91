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
	"strings"
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

// DecodeJob parses a queue message body. The job's Payload may share body's memory (it does
// for the jobs Herald writes), so body must not change while the job is in use.
func DecodeJob(body []byte) (Job, error) {
	if j, ok := decodeJobFast(body); ok {
		return j, nil
	}
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

// Fields of a job that decodeJobFast reads, as bits of the set of fields seen.
const (
	fieldID = iota
	fieldTenantID
	fieldKind
	fieldWebhookID
	fieldOwnerID
	fieldEventType
	fieldPayload
	fieldAttempts
	fieldNotBefore
	fieldSlot
	fieldOrdered
)

// maxFastDepth is the deepest payload decodeJobFast reads; a deeper one (stage payloads
// nest three or four levels) goes to the general decoder, which sets the limit.
const maxFastDepth = 32

// decodeJobFast decodes a valid job of the shape Herald writes: an object of exactly spelled
// fields, none twice, whose text fields are ASCII without escapes. It reports false for any
// other body, valid or not, and DecodeJob then decodes it with the general decoder, which
// also words every error. The general decoder took 1.7 µs a job, the largest share of the
// delivery path's own work (BenchmarkProcessOne), a third of it copying a payload it must
// check anyway; this one takes about 0.5 µs, reading the body once, and makes one allocation,
// for the text fields.
//
// It answers as encoding/json does (FuzzDecodeJob holds it to that): JSON's grammar with
// any byte from 0x20 in strings, the payload's bytes as they are, and for the two times
// time.Time's own UnmarshalJSON, which is what encoding/json calls.
func decodeJobFast(body []byte) (Job, bool) {
	var j Job
	var text [fieldEventType + 1][2]int // start and end in body of each text field
	var seen uint16
	d := fastDecoder{b: body}
	d.space()
	if !d.eat('{') {
		return j, false
	}
	d.space()
	for !d.eat('}') {
		if seen != 0 && (!d.eat(',') || !d.space()) {
			return j, false
		}
		start, end, ok := d.simpleString()
		if !ok || !d.space() || !d.eat(':') || !d.space() {
			return j, false
		}
		field := -1
		switch string(body[start:end]) {
		case "id":
			field = fieldID
		case "tenant_id":
			field = fieldTenantID
		case "kind":
			field = fieldKind
		case "webhook_id":
			field = fieldWebhookID
		case "owner_id":
			field = fieldOwnerID
		case "event_type":
			field = fieldEventType
		case "payload":
			field = fieldPayload
		case "attempts":
			field = fieldAttempts
		case "not_before":
			field = fieldNotBefore
		case "slot":
			field = fieldSlot
		case "ordered":
			field = fieldOrdered
		}
		// An unknown or differently spelled name may still be one of the fields to
		// encoding/json, which matches names without regard to case.
		if field < 0 || seen&(1<<field) != 0 {
			return j, false
		}
		seen |= 1 << field
		switch field {
		case fieldPayload:
			from := d.i
			if !d.value(0) {
				return j, false
			}
			// Capped, so that an append to the payload can never write over the body.
			j.Payload = body[from:d.i:d.i]
		case fieldAttempts:
			if j.Attempts, ok = d.smallInt(); !ok {
				return j, false
			}
		case fieldOrdered:
			switch {
			case d.literal("true"):
				j.Ordered = true
			case d.literal("false"):
			default:
				return j, false
			}
		case fieldNotBefore, fieldSlot:
			from := d.i
			if _, _, ok := d.simpleString(); !ok {
				return j, false
			}
			t := &j.NotBefore
			if field == fieldSlot {
				t = &j.Slot
			}
			if t.UnmarshalJSON(body[from:d.i]) != nil {
				return j, false
			}
		default:
			if text[field][0], text[field][1], ok = d.simpleString(); !ok {
				return j, false
			}
		}
		d.space()
	}
	d.space()
	if d.i != len(body) {
		return j, false
	}
	// The text fields share one allocation.
	size := 0
	for _, t := range text {
		size += t[1] - t[0]
	}
	var all strings.Builder
	all.Grow(size)
	for _, t := range text {
		all.Write(body[t[0]:t[1]])
	}
	s, at := all.String(), 0
	str := func(field int) string {
		n := text[field][1] - text[field][0]
		at += n
		return s[at-n : at]
	}
	j.ID, j.TenantID, j.Kind, j.WebhookID, j.OwnerID, j.EventType = str(fieldID), str(fieldTenantID), Kind(str(fieldKind)), str(fieldWebhookID), str(fieldOwnerID), str(fieldEventType)
	if j.validateFields() != nil {
		return j, false
	}
	return j, true
}

// fastDecoder reads JSON for decodeJobFast. Each method reports false where the input is not
// what it reads, and the caller then gives the body up.
type fastDecoder struct {
	b []byte
	i int
}

// space skips whitespace and reports true, so that it chains in conditions.
func (d *fastDecoder) space() bool {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return true
		}
	}
	return true
}

func (d *fastDecoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *fastDecoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// simpleString reads a string of printable ASCII without escapes and returns the bounds of
// its content.
func (d *fastDecoder) simpleString() (start, end int, ok bool) {
	if !d.eat('"') {
		return 0, 0, false
	}
	b, i := d.b, d.i
	for i < len(b) && b[i] >= 0x20 && b[i] < 0x80 && b[i] != '"' && b[i] != '\\' {
		i++
	}
	if i == len(b) || b[i] != '"' {
		return 0, 0, false
	}
	start, end, d.i = d.i, i, i+1
	return start, end, true
}

// smallInt reads a non-negative integer of up to nine digits, which fits any int.
func (d *fastDecoder) smallInt() (int, bool) {
	n, start := 0, d.i
	for d.i < len(d.b) && d.i-start < 10 && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		n = n*10 + int(d.b[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	// A leading zero is not JSON; a fraction or an exponent is not an int to encoding/json.
	ok := digits > 0 && digits < 10 && (d.b[start] != '0' || digits == 1) &&
		(d.i == len(d.b) || (d.b[d.i] != '.' && d.b[d.i] != 'e' && d.b[d.i] != 'E'))
	return n, ok
}

// value reads any JSON value nested at most maxFastDepth deep.
func (d *fastDecoder) value(depth int) bool {
	if depth > maxFastDepth || d.i >= len(d.b) {
		return false
	}
	switch d.b[d.i] {
	case '{':
		d.i++
		d.space()
		if d.eat('}') {
			return true
		}
		for {
			if !d.string() || !d.space() || !d.eat(':') || !d.space() || !d.value(depth+1) || !d.space() {
				return false
			}
			if d.eat('}') {
				return true
			}
			if !d.eat(',') || !d.space() {
				return false
			}
		}
	case '[':
		d.i++
		d.space()
		if d.eat(']') {
			return true
		}
		for {
			if !d.value(depth+1) || !d.space() {
				return false
			}
			if d.eat(']') {
				return true
			}
			if !d.eat(',') || !d.space() {
				return false
			}
		}
	case '"':
		return d.string()
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		return d.number()
	}
}

// string reads any JSON string. Like encoding/json, it takes any byte from 0x20 up, valid
// UTF-8 or not.
func (d *fastDecoder) string() bool {
	if !d.eat('"') {
		return false
	}
	for d.i < len(d.b) {
		// The run of plain bytes, the most of any payload, in locals the loop keeps in
		// registers.
		b, i := d.b, d.i
		for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i == len(b) {
			return false
		}
		c := b[i]
		d.i = i + 1
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		}
		// A backslash.
		if d.i >= len(d.b) {
			return false
		}
		e := d.b[d.i]
		d.i++
		switch e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			if len(d.b)-d.i < 4 {
				return false
			}
			for _, h := range d.b[d.i : d.i+4] {
				if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
					return false
				}
			}
			d.i += 4
		default:
			return false
		}
	}
	return false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *fastDecoder) number() bool {
	d.eat('-')
	switch {
	case d.eat('0'):
	case d.digits() == 0:
		return false
	}
	if d.eat('.') && d.digits() == 0 {
		return false
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

func (d *fastDecoder) digits() int {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i - start
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
