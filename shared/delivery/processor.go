package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/heraldhq/herald/shared/telemetry"
)

// Message is one received queue message, as the queue adapter hands it over.
type Message struct {
	ID            string
	ReceiptHandle string
	Body          []byte
	// ReceiveCount is how often the queue has handed this message out, this time included.
	ReceiveCount int
}

// Retry asks the queue to hand a message out again after Wait.
type Retry struct {
	Message Message
	Wait    time.Duration
}

// EndpointSource looks up the webhooks a batch of jobs goes to. A missing ref in the result
// means the webhook no longer exists.
type EndpointSource interface {
	Endpoints(ctx context.Context, refs []EndpointRef) (map[EndpointRef]Endpoint, error)
}

// WebhookDisabler turns a webhook off when its receiver says it is gone (410).
type WebhookDisabler interface {
	DisableWebhook(ctx context.Context, ref EndpointRef, reason string) error
}

// AttemptLog keeps the record of every attempt.
type AttemptLog interface {
	RecordAttempts(ctx context.Context, attempts []Attempt) error
}

// RetryQueue is the queue the jobs came from.
type RetryQueue interface {
	// RetryLater keeps each message invisible for its wait; it returns the IDs of messages
	// it could not reschedule.
	RetryLater(ctx context.Context, retries []Retry) (failedIDs []string, err error)
	// Requeue sends job again as a new message, visible after delay.
	Requeue(ctx context.Context, job Job, delay time.Duration) error
	// DeadLetter parks a message body that will not be attempted again, with the reason.
	DeadLetter(ctx context.Context, body []byte, reason string, class Class) error
}

// Dead-letter and drop reasons.
const (
	ReasonInvalidJob        = "invalid_job"
	ReasonAttemptsExhausted = "attempts_exhausted"
	ReasonWebhookDeleted    = "webhook_deleted"
	ReasonWebhookDisabled   = "webhook_disabled"
)

// ownFaultWait is how long a job waits when our own store or queue failed it. 30 s lets a
// throttled DynamoDB table or a brief SQS error clear without hammering it; jitter spreads a
// whole batch.
const ownFaultWait = 30 * time.Second

// DefaultConcurrency bounds the attempts of one batch in flight at once. SQS hands Lambda up to
// ten messages per batch by default; ten in parallel keeps one slow receiver from serialising
// the rest.
const DefaultConcurrency = 10

// Processor runs one batch of delivery jobs to completion.
type Processor struct {
	Endpoints   EndpointSource
	Disabler    WebhookDisabler
	Log         AttemptLog
	Queue       RetryQueue
	Sender      *Sender
	Schedule    Schedule
	Counter     telemetry.Counter
	Logger      *slog.Logger
	Concurrency int
	Now         func() time.Time
}

// Process attempts every message of a batch and returns the IDs of the messages that must stay
// on the queue (Lambda's batch item failures): those waiting for a retry, whose visibility has
// been set to the wait, and those handed back after one of our own faults. Every other message
// is done (delivered, dead-lettered or dropped with a logged, counted reason) and is deleted.
func (p *Processor) Process(ctx context.Context, msgs []Message) (failedIDs []string) {
	var work []pending
	for _, m := range msgs {
		job, err := DecodeJob(m.Body)
		if err != nil {
			p.logger().Error("delivery job rejected", "message_id", m.ID, "reason", ReasonInvalidJob, "error", err)
			p.count(telemetry.DeadLettered, ReasonInvalidJob)
			if dlErr := p.Queue.DeadLetter(ctx, m.Body, ReasonInvalidJob, ClassNone); dlErr != nil {
				p.logger().Error("dead-letter invalid job", "message_id", m.ID, "error", dlErr)
				failedIDs = append(failedIDs, m.ID)
			}
			continue
		}
		work = append(work, pending{msg: m, job: job})
	}
	if len(work) == 0 {
		return failedIDs
	}

	endpoints, err := p.Endpoints.Endpoints(ctx, distinctRefs(work))
	if err != nil {
		p.logger().Error("look up webhooks for batch", "jobs", len(work), "error", err)
		return append(failedIDs, p.requeueAll(ctx, work)...)
	}

	p.attemptAll(ctx, work, endpoints)

	var attempts []Attempt
	var retries []Retry
	for _, w := range work {
		if w.attempt != nil {
			attempts = append(attempts, *w.attempt)
		}
		if w.retry != nil {
			retries = append(retries, *w.retry)
		}
		if w.returnToQueue {
			failedIDs = append(failedIDs, w.msg.ID)
		}
	}
	if len(attempts) > 0 {
		if err := p.Log.RecordAttempts(ctx, attempts); err != nil {
			// The deliveries themselves happened; sending them again to save their log
			// records would trade a lost log line for duplicate webhooks.
			p.logger().Error("record delivery attempts", "attempts", len(attempts), "error", err)
			p.count(telemetry.AttemptLogLost, "record_failed")
		}
	}
	if len(retries) > 0 {
		// A message whose wait could not be set comes back after the queue's visibility
		// timeout instead: later than planned, never lost. Either way it stays on the queue.
		if failed, err := p.Queue.RetryLater(ctx, retries); err != nil {
			p.logger().Error("reschedule failed deliveries", "retries", len(retries), "failed", len(failed), "error", err)
		}
		for _, r := range retries {
			failedIDs = append(failedIDs, r.Message.ID)
		}
	}
	return failedIDs
}

type pending struct {
	msg           Message
	job           Job
	endpoint      Endpoint
	attempt       *Attempt
	retry         *Retry
	returnToQueue bool
}

func distinctRefs(work []pending) []EndpointRef {
	seen := map[EndpointRef]bool{}
	var refs []EndpointRef
	for _, w := range work {
		if ref := w.job.Ref(); !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	return refs
}

func (p *Processor) attemptAll(ctx context.Context, work []pending, endpoints map[EndpointRef]Endpoint) {
	limit := p.Concurrency
	if limit <= 1 {
		limit = DefaultConcurrency
	}
	var ready []int
	for i := range work {
		w := &work[i]
		ep, found := endpoints[w.job.Ref()]
		switch {
		case !found:
			p.drop(w, ReasonWebhookDeleted)
		case !ep.Enabled:
			p.drop(w, ReasonWebhookDisabled)
		default:
			w.endpoint = ep
			ready = append(ready, i)
		}
	}
	if len(ready) == 0 {
		return
	}
	// The last attempt runs on this goroutine: a batch of one, the common case at low load,
	// then costs no goroutine hand-off, which on loopback is a measurable share of an attempt.
	last := ready[len(ready)-1]
	sem := make(chan struct{}, limit-1)
	var wg sync.WaitGroup
	for _, i := range ready[:len(ready)-1] {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			p.attemptOne(ctx, &work[i])
		}()
	}
	p.attemptOne(ctx, &work[last])
	wg.Wait()
}

func (p *Processor) drop(w *pending, reason string) {
	p.logger().Warn("delivery job dropped", "tenant_id", w.job.TenantID, "webhook_id", w.job.WebhookID,
		"delivery_id", w.job.ID, "reason", reason)
	p.count(telemetry.JobsDropped, reason)
}

func (p *Processor) attemptOne(ctx context.Context, w *pending) {
	ep := w.endpoint
	number := w.msg.ReceiveCount + w.job.AttemptOffset
	if number > p.Schedule.MaxAttempts() {
		// The queue handed the message out again after its last attempt (a crash or a failed
		// dead-letter send): park it rather than exceed the customer's schedule.
		p.deadLetter(ctx, w, ReasonAttemptsExhausted, ClassNone)
		return
	}
	res := p.Sender.Send(ctx, ep, w.job)
	att := Attempt{
		TenantID: w.job.TenantID, WebhookID: w.job.WebhookID, DeliveryID: w.job.ID, EventType: w.job.EventType,
		Number: number, At: p.now(), StatusCode: res.StatusCode, Latency: res.Latency,
		ErrorClass: res.Class, ResponseSnippet: res.Snippet, Payload: w.job.Payload,
	}
	if len(att.Payload) > MaxLoggedPayload {
		// The attempt is still worth its log record; only its redelivery is lost.
		p.logger().Warn("payload too large for the attempt log: recording the attempt without it",
			"delivery_id", w.job.ID, "bytes", len(att.Payload), "limit", MaxLoggedPayload)
		att.Payload = nil
		p.count(telemetry.AttemptLogLost, "payload_too_large")
	}
	defer func() { w.attempt = &att }()
	p.count(telemetry.Attempts, classOrOK(res.Class))

	switch {
	case res.Class == ClassNone:
		att.Outcome = OutcomeSucceeded
		p.logAttempt(ctx, slog.LevelInfo, "webhook delivered", &att, ep)
	case res.Class == ClassHTTPGone:
		att.Outcome = OutcomeDisabled
		p.logAttempt(ctx, slog.LevelWarn, "receiver answered 410 Gone: disabling webhook", &att, ep)
		if err := p.Disabler.DisableWebhook(ctx, w.job.Ref(), "receiver answered 410 Gone"); err != nil {
			p.logger().Error("disable webhook", "webhook_id", w.job.WebhookID, "error", err)
			w.returnToQueue = true
		}
	default:
		wait, more := p.Schedule.Wait(number)
		if !more {
			att.Outcome = OutcomeDeadLettered
			p.logAttempt(ctx, slog.LevelWarn, "last attempt failed: dead-lettering", &att, ep)
			p.deadLetter(ctx, w, ReasonAttemptsExhausted, res.Class)
			return
		}
		if res.RetryAfter > 0 {
			wait = res.RetryAfter
		}
		att.Outcome = OutcomeRetrying
		att.NextAttemptAt = att.At.Add(wait)
		w.retry = &Retry{Message: w.msg, Wait: wait}
		p.logAttempt(ctx, slog.LevelInfo, "attempt failed: retrying", &att, ep)
	}
}

// logAttempt builds its attributes only when the level is enabled: at thousands of deliveries
// a second, formatting discarded lines is a visible share of the delivery path.
func (p *Processor) logAttempt(ctx context.Context, level slog.Level, msg string, a *Attempt, ep Endpoint) {
	log := p.logger()
	if !log.Enabled(ctx, level) {
		return
	}
	log.LogAttrs(ctx, level, msg,
		slog.String("tenant_id", a.TenantID), slog.String("webhook_id", a.WebhookID), slog.String("delivery_id", a.DeliveryID),
		slog.Int("attempt", a.Number), slog.Int("status", a.StatusCode), slog.String("class", string(a.ErrorClass)),
		slog.Int64("latency_ms", a.Latency.Milliseconds()), slog.String("host", hostOf(ep.URL)),
		slog.String("outcome", string(a.Outcome)))
}

func (p *Processor) deadLetter(ctx context.Context, w *pending, reason string, class Class) {
	p.count(telemetry.DeadLettered, reason)
	if err := p.Queue.DeadLetter(ctx, w.msg.Body, reason, class); err != nil {
		p.logger().Error("dead-letter delivery job", "delivery_id", w.job.ID, "error", err)
		w.returnToQueue = true
	}
}

// requeueAll hands every job back without spending an attempt: our lookup failed, the
// customer's receiver was never called. A job that cannot even be re-sent goes back to the
// queue as a batch item failure, which costs it one receive: the rare price of both the store
// and the queue failing at once.
func (p *Processor) requeueAll(ctx context.Context, work []pending) (failedIDs []string) {
	for _, w := range work {
		job := w.job
		job.AttemptOffset = w.msg.ReceiveCount + w.job.AttemptOffset - 1
		wait := time.Duration(float64(ownFaultWait) * (0.5 + rand.Float64()))
		if err := p.Queue.Requeue(ctx, job, wait); err != nil {
			p.logger().Error("requeue delivery job", "delivery_id", job.ID, "error", err)
			failedIDs = append(failedIDs, w.msg.ID)
			continue
		}
		p.count(telemetry.OwnFaultRequeued, "endpoint_lookup")
	}
	return failedIDs
}

func (p *Processor) count(metric, dim string) {
	if p.Counter != nil {
		p.Counter.Count(metric, dim)
	}
}

func (p *Processor) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

func (p *Processor) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

func classOrOK(c Class) string {
	if c == ClassNone {
		return "ok"
	}
	return string(c)
}

// hostOf logs where a delivery went without the path or query, which may hold a token.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	return u.Host
}

// Validate reports a Processor missing a collaborator, so a runtime fails at start, not on the
// first message.
func (p *Processor) Validate() error {
	switch {
	case p.Endpoints == nil:
		return fmt.Errorf("delivery processor: no endpoint source")
	case p.Disabler == nil:
		return fmt.Errorf("delivery processor: no webhook disabler")
	case p.Log == nil:
		return fmt.Errorf("delivery processor: no attempt log")
	case p.Queue == nil:
		return fmt.Errorf("delivery processor: no retry queue")
	case p.Sender == nil:
		return fmt.Errorf("delivery processor: no sender")
	case len(p.Schedule) == 0:
		return fmt.Errorf("delivery processor: empty retry schedule")
	}
	return nil
}
