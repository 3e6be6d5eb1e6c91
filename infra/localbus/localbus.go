// Package localbus is the event bus of a Herald that runs on one machine: an http.Handler that
// speaks EventBridge's PutEvents wire protocol (AWS JSON 1.1, X-Amz-Target AWSEvents.PutEvents),
// so that producers publish unchanged, with `aws events put-events --endpoint-url …` or
// aws-sdk-go-v2's eventbridge client pointed at it.
//
// Each accepted entry becomes the EventBridge event envelope Lambda would receive, is matched
// against the rules template.yaml declares (LoadRules: never a second copy of a pattern), and
// every match becomes an Invocation of the rule's function. All invocations of one PutEvents
// call go to the Sink in one Accept call, before the response is written: an entry reported
// with an EventId has been persisted, so a producer that saw success never needs to resend it,
// and a producer that saw InternalFailure retries, as it would against EventBridge.
//
// What it checks is what EventBridge checks, with EventBridge's codes and messages, so that an
// entry accepted here is accepted on AWS: at most 10 entries, Source, DetailType and Detail
// present, Detail a JSON object, the documented size limit. Requests are not authenticated
// (the bus listens on loopback only); SigV4-signed requests are accepted as they come.
package localbus

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Invocation is one rule's hand-over of one event to one function, as EventBridge invokes a
// Lambda target asynchronously.
type Invocation struct {
	// Function is the logical ID of the target function in template.yaml.
	Function string
	// Event is the EventBridge event envelope, JSON, exactly as the function receives it.
	Event []byte
}

// Sink takes the invocations of one PutEvents call. Accept must make them durable before it
// returns nil (the runner persists them in one transaction): the bus reports the entries as
// accepted only after that, so an accepted entry is never lost. An error fails every entry that
// had invocations with InternalFailure, which producers retry.
type Sink interface {
	Accept(ctx context.Context, invocations []Invocation) error
}

// Counter counts rejections; shared/telemetry's Counter (and Memory) satisfies it.
type Counter interface {
	Count(metric, dimension string)
}

// MetricEventsRejected is the metric failed entries are counted under, by ErrorCode; the same
// name as telemetry.EventsRejected, so that one dashboard shows events refused at the bus and
// events refused by the router.
const MetricEventsRejected = "EventsRejected"

// Defaults of Options.
const (
	// DefaultAccount is the account of the events' envelopes. Twelve zeros: obviously not a real
	// account, but one that passes the 12-digit checks of code written for AWS.
	DefaultAccount = "000000000000"
	// DefaultRegion is the region of the events' envelopes.
	DefaultRegion = "us-east-1"
	// DefaultMaxRequestBytes caps a request body. EventBridge limits the entries to 1 MB
	// measured on the decoded strings (see maxEntriesBytes), but the JSON request that carries
	// them is larger: every quote inside Detail is escaped (2 bytes for 1), and the AWS CLI
	// writes non-ASCII as \uXXXX (6 bytes for a 3-byte CJK character, 12 for a 4-byte emoji).
	// 4 MiB admits any request EventBridge would take; the decoded size is then checked exactly.
	DefaultMaxRequestBytes = 4 << 20
)

// Options configures a Bus. The zero value is usable.
type Options struct {
	// Account and Region go into every envelope; DefaultAccount and DefaultRegion when empty.
	Account string
	Region  string
	// Logger receives one line per failed entry and per failed request; slog.Default() when nil.
	Logger *slog.Logger
	// Counter counts, under MetricEventsRejected, each failed entry by its ErrorCode and each
	// failed request by its error type (ValidationException, …); nothing is counted when nil.
	Counter Counter
	// MaxRequestBytes caps a request body; DefaultMaxRequestBytes when zero.
	MaxRequestBytes int64
	// Now is the clock for entries without a Time; time.Now when nil.
	Now func() time.Time
	// NewID makes event and request IDs; random UUIDs when nil. Tests set it to compare
	// responses byte for byte.
	NewID func() string
}

// Bus is the local event bus: an http.Handler serving EventBridge's PutEvents. It is safe for
// concurrent use.
type Bus struct {
	rules   []Rule
	sink    Sink
	account string
	region  string
	log     *slog.Logger
	counter Counter
	maxBody int64
	now     func() time.Time
	newID   func() string
}

// New returns a Bus that routes events by rules (see LoadRules) to sink.
func New(rules []Rule, sink Sink, opts Options) *Bus {
	b := &Bus{
		rules:   append([]Rule(nil), rules...),
		sink:    sink,
		account: opts.Account,
		region:  opts.Region,
		log:     opts.Logger,
		counter: opts.Counter,
		maxBody: opts.MaxRequestBytes,
		now:     opts.Now,
		newID:   opts.NewID,
	}
	if b.account == "" {
		b.account = DefaultAccount
	}
	if b.region == "" {
		b.region = DefaultRegion
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.counter == nil {
		b.counter = nopCounter{}
	}
	if b.maxBody <= 0 {
		b.maxBody = DefaultMaxRequestBytes
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.newID == nil {
		b.newID = uuid.NewString
	}
	return b
}

type nopCounter struct{}

func (nopCounter) Count(string, string) {}
