package delivery

import (
	"context"
	"errors"
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
	// Attempts are not counted from it (see Job.Attempts); it is logged.
	ReceiveCount int
	// ReceivedAt is when the queue handed the message out this time; the visibility it may
	// still be given is counted from it (MaxVisibility). Zero means "just now".
	ReceivedAt time.Time
}

// Retry asks the queue to keep a received message invisible for Wait, counted from the call.
type Retry struct {
	Message Message
	Wait    time.Duration
}

// Resend is a job sent again as a new message, visible after Delay (at most MaxDelay).
type Resend struct {
	Job   Job
	Delay time.Duration
}

// Limits of the queue the jobs ride on, SQS's. A received message can be kept invisible for at
// most MaxVisibility counted from its receive (SQS refuses a ChangeMessageVisibility that
// would take it past that), and a new message can be delayed by at most MaxDelay. A longer
// wait is a new message (Resend) that is parked again each time it is received early.
const (
	MaxVisibility = 12 * time.Hour
	MaxDelay      = 15 * time.Minute
)

// visibilityMargin is kept short of MaxVisibility: Lambda hands a batch over a moment after
// SQS's receive (up to the batching window, 1 s in template.yaml) and the clocks differ.
const visibilityMargin = 5 * time.Minute

// notBeforeSlack lets a job that is due within it be attempted now rather than parked: queues
// deliver delayed messages a little early or late, and a one-second park is a wasted receive.
const notBeforeSlack = time.Second

// EndpointSource looks up the webhooks a batch of jobs goes to. A missing ref in the result
// means the webhook no longer exists.
type EndpointSource interface {
	Endpoints(ctx context.Context, refs []EndpointRef) (map[EndpointRef]Endpoint, error)
}

// WebhookDisabler turns a webhook off when its receiver says it is gone (410).
type WebhookDisabler interface {
	DisableWebhook(ctx context.Context, ref EndpointRef, reason string) error
}

// SlackPoster posts a KindSlack job's message to its channel and reports the outcome as an
// attempt, classed as a webhook's would be: a revoked channel is ClassHTTPGone (with the
// reason in the snippet), a 429 carries its Retry-After.
type SlackPoster interface {
	PostSlack(ctx context.Context, ep Endpoint, job Job) Result
}

// DeliveryHistory reads the attempts of one delivery. The processor asks it before posting a
// KindSlack job: Slack cannot deduplicate, so a message already delivered (an inbound event or
// a queue message handed out twice) is not posted again.
type DeliveryHistory interface {
	AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]Attempt, error)
}

// PostClaims keeps one Slack message from being posted by two deliveries at once (an event or
// a queue message handed out twice, attempted by two pollers together). A claim is held for a
// lease; a poster that crashes loses it when the lease ends.
type PostClaims interface {
	// Claim takes the right to post delivery id. done is true when a post of it succeeded
	// already; claimed and done both false mean another delivery is posting it now.
	Claim(ctx context.Context, tenant, id string) (claimed, done bool, err error)
	// Posted records that the post succeeded; Release gives the claim up after a failure.
	Posted(ctx context.Context, tenant, id string) error
	Release(ctx context.Context, tenant, id string) error
}

// AttemptLog keeps the record of every attempt.
type AttemptLog interface {
	// RecordAttempts must not keep attempts once it returns: the Processor reuses the slice.
	RecordAttempts(ctx context.Context, attempts []Attempt) error
}

// RetryQueue is the queue the jobs came from.
type RetryQueue interface {
	// RetryLater keeps each received message invisible for its wait, which must fit within
	// MaxVisibility of its receive (the queue refuses it otherwise); it returns the IDs of
	// messages it could not change.
	RetryLater(ctx context.Context, retries []Retry) (failedIDs []string, err error)
	// Resend sends each job again as a new message, visible after its delay. nil means every
	// job is queued; an error means some may not be.
	Resend(ctx context.Context, jobs []Resend) error
	// DeadLetter parks a message body that will not be attempted again, with the reason.
	DeadLetter(ctx context.Context, body []byte, reason string, class Class) error
}

// Dead-letter and drop reasons.
const (
	ReasonInvalidJob        = "invalid_job"
	ReasonAttemptsExhausted = "attempts_exhausted"
	ReasonWebhookDeleted    = "webhook_deleted"
	ReasonWebhookDisabled   = "webhook_disabled"
	// ReasonAlreadyDelivered drops a KindSlack job whose delivery already succeeded.
	ReasonAlreadyDelivered = "already_delivered"
)

// ownFaultWait is how long a job waits when our own store or queue failed it. 30 s lets a
// throttled DynamoDB table or a brief SQS error clear without hammering it; jitter spreads a
// whole batch.
const ownFaultWait = 30 * time.Second

// bookkeepingReserve is kept back from the function's deadline for what follows the attempts:
// the attempt log, resends and dead letters, each one batch request of tens of milliseconds,
// with room for the SDK's retries. Attempts get a deadline that much earlier, so a slow
// receiver can never time out the whole batch (which would send its delivered jobs again).
const bookkeepingReserve = 5 * time.Second

// DefaultConcurrency bounds the attempts of one batch in flight at once. SQS hands Lambda up to
// ten messages per batch by default; ten in parallel keeps one slow receiver from serialising
// the rest.
const DefaultConcurrency = 10

// Processor runs one batch of delivery jobs to completion.
type Processor struct {
	Endpoints EndpointSource
	Disabler  WebhookDisabler
	Log       AttemptLog
	Queue     RetryQueue
	Sender    *Sender
	// Slack posts KindSlack jobs, History keeps them from being posted twice; a runtime
	// without them refuses such jobs as invalid.
	Slack   SlackPoster
	History DeliveryHistory
	Claims  PostClaims
	// Health keeps webhooks' failure streaks and disables, under HealthPolicy, one that fails
	// for too long; Alerter tells its owner. A runtime without Health keeps no streaks.
	Health       HealthStore
	HealthPolicy HealthPolicy
	Alerter      DisabledAlerter
	// Limiter spaces the attempts of webhooks with a rate limit; a runtime without it sends
	// them unlimited.
	Limiter     RateLimiter
	Schedule    Schedule
	Counter     telemetry.Counter
	Logger      *slog.Logger
	Concurrency int
	Now         func() time.Time
}

// Process attempts every message of a batch that is due and returns the IDs of the messages
// that must stay on the queue (Lambda's batch item failures): those received before their
// attempt is due, hidden again until then, and those kept because a resend or a dead letter
// could not be sent. Every other message is done and is deleted: delivered, resent as a new
// message for its next attempt (or after one of our own faults, with its count unchanged),
// dead-lettered, or dropped with a logged, counted reason. Ordered jobs (Job.Ordered) are
// never sent again: one that waits stays on the queue, and so do the later ones of its group
// (see processOrdered).
func (p *Processor) Process(ctx context.Context, msgs []Message) (failedIDs []string) {
	now := p.now()
	scratch := getScratch(len(msgs))
	defer putScratch(scratch)
	work := scratch.work
	var parked []Retry
	var ordered []pending
	for _, m := range msgs {
		job, err := DecodeJob(m.Body)
		switch {
		case err != nil:
		case job.Kind == KindSlack && (p.Slack == nil || p.History == nil || p.Claims == nil):
			err = errors.New("slack delivery job but this runtime posts to no Slack")
		case job.Ordered && p.History == nil:
			err = errors.New("ordered delivery job but this runtime reads no attempt log to count its attempts")
		}
		if err != nil {
			p.logger().Error("delivery job rejected", "message_id", m.ID, "reason", ReasonInvalidJob, "error", err)
			p.count(telemetry.DeadLettered, ReasonInvalidJob)
			if dlErr := p.Queue.DeadLetter(ctx, m.Body, ReasonInvalidJob, ClassNone); dlErr != nil {
				p.logger().Error("dead-letter invalid job", "message_id", m.ID, "error", dlErr)
				failedIDs = append(failedIDs, m.ID)
			}
			continue
		}
		if job.Ordered {
			ordered = append(ordered, pending{msg: m, job: job})
			continue
		}
		if job.NotBefore.Sub(now) > notBeforeSlack {
			// Received before its attempt is due (a wait longer than a queue delay): hidden
			// again until then, without an attempt.
			parked = appendPark(parked, m, job.NotBefore, now)
			failedIDs = append(failedIDs, m.ID)
			continue
		}
		work = append(work, pending{msg: m, job: job})
	}
	if len(parked) > 0 {
		// A message whose wait could not be set comes back after the queue's visibility
		// timeout and is parked again then.
		if failed, err := p.Queue.RetryLater(ctx, parked); err != nil {
			p.logger().Error("park early deliveries", "messages", len(parked), "failed", len(failed), "error", err)
		}
	}
	if len(ordered) > 0 {
		failedIDs = append(failedIDs, p.processOrdered(ctx, ordered, now)...)
	}
	if len(work) == 0 {
		return failedIDs
	}

	endpoints, err := p.lookUpEndpoints(ctx, work)
	if err != nil {
		p.logger().Error("look up webhooks for batch", "jobs", len(work), "error", err)
		return append(failedIDs, p.resendOwnFault(ctx, work, "endpoint_lookup")...)
	}

	p.attemptAll(ctx, work, endpoints)

	attempts := scratch.attempts
	var resends []*pending
	ownFaults := map[string][]pending{}
	for i := range work {
		w := &work[i]
		if w.attempt != nil {
			attempts = append(attempts, *w.attempt)
		}
		switch {
		case w.ownFault != "":
			ownFaults[w.ownFault] = append(ownFaults[w.ownFault], *w)
		case w.resend != nil:
			resends = append(resends, w)
		case w.returnToQueue:
			failedIDs = append(failedIDs, w.msg.ID)
		}
	}
	if len(attempts) > 0 {
		if err := p.recordAttempts(ctx, attempts); err != nil {
			// The deliveries themselves happened; sending them again to save their log
			// records would trade a lost log line for duplicate webhooks. A job that was only
			// recorded (dropped while its webhook is disabled) has nothing else to show for
			// it, so it goes back to the queue instead of being lost.
			p.logger().Error("record delivery attempts", "attempts", len(attempts), "error", err)
			p.count(telemetry.AttemptLogLost, "record_failed")
			for _, w := range work {
				if w.recordOnly {
					failedIDs = append(failedIDs, w.msg.ID)
				}
			}
		}
	}
	for why, jobs := range ownFaults {
		failedIDs = append(failedIDs, p.resendOwnFault(ctx, jobs, why)...)
	}
	failedIDs = append(failedIDs, p.resendRetries(ctx, resends, now)...)
	return failedIDs
}

// recordTries is how often the attempt log is written before its records are given up: the
// store's client retries each request already, and a throttled table often clears within a
// second, while the batch still has its bookkeeping reserve to spend.
const recordTries = 3

// recordAttempts writes the batch's attempt records, trying again after a pause when the store
// fails: the fault suite lost records of a few batches in 20,000 deliveries to a table
// throttled past the SDK's own retries.
func (p *Processor) recordAttempts(ctx context.Context, attempts []Attempt) error {
	var err error
	for try := range recordTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(try) * 200 * time.Millisecond):
			}
		}
		if err = p.Log.RecordAttempts(ctx, attempts); err == nil {
			return nil
		}
	}
	return err
}

// appendPark adds to parks the wait that keeps m hidden until due, shortened to what the queue
// still allows for it (MaxVisibility from its receive, less visibilityMargin). Under a second
// is not worth a request: the message then comes back after the queue's visibility timeout.
func appendPark(parks []Retry, m Message, due, now time.Time) []Retry {
	received := m.ReceivedAt
	if received.IsZero() || received.After(now) {
		received = now
	}
	wait := min(due.Sub(now), MaxVisibility-visibilityMargin-now.Sub(received))
	if wait < time.Second {
		return parks
	}
	return append(parks, Retry{Message: m, Wait: wait})
}

// resendRetries sends the jobs that wait for another attempt as new messages carrying their
// attempt count; their received messages are then done. If the resend fails, each received
// message is kept instead, invisible for its wait (or as long as the queue allows): it comes
// back with the old count and its attempt is made once more, a duplicate at worst.
func (p *Processor) resendRetries(ctx context.Context, retries []*pending, now time.Time) (failedIDs []string) {
	if len(retries) == 0 {
		return nil
	}
	out := make([]Resend, len(retries))
	for i, w := range retries {
		out[i] = *w.resend
	}
	err := p.Queue.Resend(ctx, out)
	if err == nil {
		return nil
	}
	p.logger().Error("resend failed deliveries for their next attempt: keeping the received messages", "jobs", len(retries), "error", err)
	var keep []Retry
	for _, w := range retries {
		failedIDs = append(failedIDs, w.msg.ID)
		keep = appendPark(keep, w.msg, w.resend.Job.NotBefore, now)
	}
	if failed, err := p.Queue.RetryLater(ctx, keep); err != nil {
		p.logger().Error("reschedule failed deliveries", "retries", len(keep), "failed", len(failed), "error", err)
	}
	return failedIDs
}

// maxScratchBatch is the largest batch whose working memory is kept for the next one: a
// pending job is about 700 bytes, and SQS hands Lambda ten messages by default.
const maxScratchBatch = 100

// scratch is a batch's working memory. Allocated afresh, the pending jobs and their attempt
// records were a kilobyte per job zeroed for the garbage collector, a visible share of a
// loopback delivery, so batches reuse it.
type scratch struct {
	work     []pending
	attempts []Attempt
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// getScratch returns working memory empty and with room for n jobs, so that appending up to n
// never moves it.
func getScratch(n int) *scratch {
	s := scratches.Get().(*scratch)
	if cap(s.work) < n {
		s.work = make([]pending, 0, n)
		s.attempts = make([]Attempt, 0, n)
	}
	return s
}

// putScratch keeps s for another batch, cleared so that it holds on to no payload, unless it
// is too large to keep.
func putScratch(s *scratch) {
	if cap(s.work) > maxScratchBatch {
		return
	}
	clear(s.work[:cap(s.work)])
	clear(s.attempts[:cap(s.attempts)])
	s.work, s.attempts = s.work[:0], s.attempts[:0]
	scratches.Put(s)
}

type pending struct {
	msg      Message
	job      Job
	endpoint Endpoint
	// attempt is the job's attempt record, nil when none was made; it points at record, which
	// holds it in the batch's own memory rather than in an allocation of its own.
	attempt *Attempt
	record  Attempt
	// resend is the job's next attempt, when it waits for one.
	resend *Resend
	// ownFault says why a job failed on our side ("panic", "stopped"), never its receiver's
	// fault; "" when it did not.
	ownFault string
	// recordOnly is a job whose only trace is its attempt record (dropped while disabled).
	recordOnly    bool
	returnToQueue bool
	// endpointOff says this job's attempt disabled its webhook (410, or failing too long).
	endpointOff bool
	// ready is a job to attempt in this batch; holdUntil is its rate-limit slot, if any.
	ready     bool
	holdUntil time.Time
}

// lookUpEndpoints returns the endpoints of work's jobs. Through a CachedEndpoints, a batch
// whose webhooks are all cached is answered without building a map: an Endpoint and its key
// make each map slot about 150 bytes, so the map of even one entry was a kilobyte zeroed per
// batch, a visible share of a delivery.
func (p *Processor) lookUpEndpoints(ctx context.Context, work []pending) (endpointSet, error) {
	if c, ok := p.Endpoints.(*CachedEndpoints); ok && len(work) == 1 {
		ref := work[0].job.Ref()
		if ep, cached := c.cached(ref); cached {
			return endpointSet{one: ep, oneRef: ref, hasOne: true}, nil
		}
	}
	m, err := p.Endpoints.Endpoints(ctx, distinctRefs(work))
	return endpointSet{many: m}, err
}

// endpointSet is the endpoints of a batch: one (held by value, not behind a pointer that
// would cost an allocation per batch), or a map.
type endpointSet struct {
	one    Endpoint
	oneRef EndpointRef
	hasOne bool
	many   map[EndpointRef]Endpoint
}

func (s *endpointSet) get(ref EndpointRef) (Endpoint, bool) {
	if s.hasOne {
		return s.one, ref == s.oneRef
	}
	ep, ok := s.many[ref]
	return ep, ok
}

func distinctRefs(work []pending) []EndpointRef {
	if len(work) == 1 {
		// A batch of one, the common case at low load, needs no set.
		return []EndpointRef{work[0].job.Ref()}
	}
	seen := make(map[EndpointRef]bool, len(work))
	var refs []EndpointRef
	for _, w := range work {
		if ref := w.job.Ref(); !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	return refs
}

func (p *Processor) attemptAll(ctx context.Context, work []pending, endpoints endpointSet) {
	limit := p.Concurrency
	if limit <= 1 {
		limit = DefaultConcurrency
	}
	var ready []int
	for i := range work {
		w := &work[i]
		ep, found := endpoints.get(w.job.Ref())
		switch {
		case !found:
			p.drop(w, ReasonWebhookDeleted)
		case !ep.Enabled:
			p.drop(w, ReasonWebhookDisabled)
			p.recordDisabled(w)
		default:
			w.endpoint, w.ready = ep, true
		}
	}
	if p.Limiter != nil {
		p.scheduleSlots(ctx, work, p.now())
	}
	for i := range work {
		if work[i].ready {
			ready = append(ready, i)
		}
	}
	if len(ready) == 0 {
		return
	}
	// A context of its own, not ctx reassigned: the goroutines below would then share the
	// variable, and it would cost an allocation per batch.
	attemptCtx, cancel := p.withBatchDeadline(ctx, work, ready, limit)
	defer cancel()
	// The last attempt runs on this goroutine: a batch of one, the common case at low load,
	// then costs no goroutine hand-off, which on loopback is a measurable share of an attempt.
	last := ready[len(ready)-1]
	if len(ready) == 1 {
		p.attemptOne(attemptCtx, &work[last])
		return
	}
	sem := make(chan struct{}, limit-1)
	var wg sync.WaitGroup
	for _, i := range ready[:len(ready)-1] {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			p.attemptOne(attemptCtx, &work[i])
		}()
	}
	p.attemptOne(attemptCtx, &work[last])
	wg.Wait()
}

// withBatchDeadline is withAttemptDeadline, which it also gives each attempt's own deadline
// when every attempt of the batch starts now: webhook posts (a Slack job's lookups and
// claims have no attempt deadline), all in flight at once, none with a rate-limit slot.
// Each attempt then ends within the Sender's timeout of its start, as it would by its own,
// and the batch sets one timer instead of one per attempt and one for the batch.
func (p *Processor) withBatchDeadline(ctx context.Context, work []pending, ready []int, limit int) (context.Context, context.CancelFunc) {
	if len(ready) > limit || p.Sender == nil {
		return withAttemptDeadline(ctx)
	}
	for _, i := range ready {
		if work[i].job.Kind != KindWebhook || !work[i].holdUntil.IsZero() {
			return withAttemptDeadline(ctx)
		}
	}
	deadline := time.Now().Add(p.Sender.timeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-bookkeepingReserve).Before(deadline) {
		deadline = d.Add(-bookkeepingReserve)
	}
	return context.WithDeadline(ctx, deadline)
}

// withAttemptDeadline ends attempts bookkeepingReserve before ctx's deadline, if it has one.
func withAttemptDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-bookkeepingReserve))
	}
	return ctx, func() {}
}

// recordDisabled writes the terminal record of a job dropped because its webhook is disabled:
// dead-lettered, with the payload, so that the delivery log shows it and recover sends it
// again once the webhook is enabled. No request was made; the record says so with its class.
func (p *Processor) recordDisabled(w *pending) {
	w.recordOnly = true
	w.record = w.job.attempt(w.job.Attempts+1, p.now())
	w.record.ErrorClass, w.record.Outcome = ClassWebhookDisabled, OutcomeDeadLettered
	w.attempt = &w.record
	if len(w.attempt.Payload) > MaxLoggedPayload {
		w.attempt.Payload = nil
	}
}

func (p *Processor) drop(w *pending, reason string) {
	p.logger().Warn("delivery job dropped", "tenant_id", w.job.TenantID, "webhook_id", w.job.WebhookID,
		"delivery_id", w.job.ID, "reason", reason)
	p.count(telemetry.JobsDropped, reason)
}

func (p *Processor) attemptOne(ctx context.Context, w *pending) {
	defer func() {
		if v := recover(); v != nil {
			// One job's panic is that job's failure, ours and not its receiver's: it is sent
			// again without spending an attempt, and the rest of the batch goes on.
			p.logger().Error("delivery job panicked", "delivery_id", w.job.ID, "webhook_id", w.job.WebhookID, "panic", fmt.Sprint(v))
			w.attempt, w.resend, w.ownFault = nil, nil, "panic"
		}
	}()
	ep := w.endpoint
	number := w.job.Attempts + 1
	if number > p.Schedule.MaxAttempts() {
		// Its last attempt was made but the dead-letter send failed then: park it now.
		p.deadLetter(ctx, w, ReasonAttemptsExhausted, ClassNone)
		return
	}
	if w.job.Kind == KindSlack {
		done, err := p.deliveredBefore(ctx, w.job)
		if err != nil {
			p.logger().Error("read the attempts of a slack delivery", "delivery_id", w.job.ID, "error", err)
			w.ownFault = "history_lookup"
			return
		}
		if done {
			p.drop(w, ReasonAlreadyDelivered)
			return
		}
	}
	var res Result
	if w.job.Kind == KindSlack {
		claimed, done, err := p.Claims.Claim(ctx, w.job.TenantID, w.job.ID)
		switch {
		case err != nil:
			p.logger().Error("claim a slack post", "delivery_id", w.job.ID, "error", err)
			w.ownFault = "claim"
			return
		case done:
			p.drop(w, ReasonAlreadyDelivered)
			return
		case !claimed:
			// Another delivery of the same message is posting it: this one comes back after
			// its own-fault wait and finds it posted, or the claim lapsed.
			w.ownFault = "claimed_elsewhere"
			return
		}
		res = p.Slack.PostSlack(ctx, ep, w.job)
		p.settleClaim(context.WithoutCancel(ctx), w.job, res.Class == ClassNone)
	} else {
		if !holdForSlot(ctx, w, p.now()) {
			w.ownFault = "stopped"
			return
		}
		res = p.Sender.Send(ctx, ep, w.job)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// We were stopped mid-request: that is never the receiver's fault, and the job goes
		// back without spending an attempt.
		w.ownFault = "stopped"
		return
	}
	w.record = w.job.attempt(number, p.now())
	att := &w.record
	att.StatusCode, att.Latency, att.ErrorClass, att.ResponseSnippet = res.StatusCode, res.Latency, res.Class, res.Snippet
	if len(att.Payload) > MaxLoggedPayload {
		// The attempt is still worth its log record; only its redelivery is lost.
		p.logger().Warn("payload too large for the attempt log: recording the attempt without it",
			"delivery_id", w.job.ID, "bytes", len(att.Payload), "limit", MaxLoggedPayload)
		att.Payload = nil
		p.count(telemetry.AttemptLogLost, "payload_too_large")
	}
	defer func() { w.attempt = att }()
	p.count(telemetry.Attempts, classOrOK(res.Class))
	disabled := p.keepHealth(ctx, w, res, att.At)

	switch {
	case res.Class == ClassNone:
		att.Outcome = OutcomeSucceeded
		// The attempt log records every success; the function log keeps what went wrong.
		p.logAttempt(ctx, slog.LevelDebug, "webhook delivered", att, ep)
	case res.Class == ClassHTTPGone:
		att.Outcome = OutcomeDisabled
		reason := "receiver answered 410 Gone"
		if w.job.Kind == KindSlack {
			reason = res.Snippet
		}
		w.endpointOff = true
		p.logAttempt(ctx, slog.LevelWarn, "endpoint is gone: disabling it", att, ep)
		if err := p.Disabler.DisableWebhook(context.WithoutCancel(ctx), w.job.Ref(), reason); err != nil {
			p.logger().Error("disable webhook", "webhook_id", w.job.WebhookID, "error", err)
			w.returnToQueue = true
		}
	case disabled:
		// This failure disabled the webhook: the job waits in the dead-letter queue and the
		// log, where recover finds it once the webhook is enabled again.
		att.Outcome, w.endpointOff = OutcomeDeadLettered, true
		p.logAttempt(ctx, slog.LevelWarn, "webhook disabled for failing: dead-lettering", att, ep)
		w.job.Attempts = number
		p.deadLetter(ctx, w, ReasonWebhookDisabled, res.Class)
	default:
		wait, more := p.Schedule.Wait(number)
		if !more {
			att.Outcome = OutcomeDeadLettered
			p.logAttempt(ctx, slog.LevelWarn, "last attempt failed: dead-lettering", att, ep)
			w.job.Attempts = number
			p.deadLetter(ctx, w, ReasonAttemptsExhausted, res.Class)
			return
		}
		// Retry-After is a floor: a receiver asking for a second must not make the schedule's
		// ten hours a second, which would spend every attempt in moments.
		wait = max(wait, res.RetryAfter)
		att.Outcome = OutcomeRetrying
		att.NextAttemptAt = att.At.Add(wait)
		next := w.job
		next.Attempts, next.NotBefore, next.Slot = number, att.NextAttemptAt, time.Time{}
		w.resend = &Resend{Job: next, Delay: min(wait, MaxDelay)}
		p.logAttempt(ctx, slog.LevelInfo, "attempt failed: retrying", att, ep)
	}
}

// settleClaim records a Slack post's outcome on its claim: posted, or released for a retry. A
// failure to record it leaves the claim to lapse, and the history check then stops a repeat.
func (p *Processor) settleClaim(ctx context.Context, job Job, posted bool) {
	var err error
	if posted {
		err = p.Claims.Posted(ctx, job.TenantID, job.ID)
	} else {
		err = p.Claims.Release(ctx, job.TenantID, job.ID)
	}
	if err != nil {
		p.logger().Warn("settle a slack post's claim", "delivery_id", job.ID, "posted", posted, "error", err)
	}
}

// deliveredBefore reports whether an attempt of job's delivery already succeeded.
func (p *Processor) deliveredBefore(ctx context.Context, job Job) (bool, error) {
	attempts, err := p.History.AttemptsOfDelivery(ctx, job.TenantID, job.ID)
	if err != nil {
		return false, err
	}
	for _, a := range attempts {
		if a.Outcome == OutcomeSucceeded && a.WebhookID == job.WebhookID {
			return true, nil
		}
	}
	return false, nil
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

// deadLetter parks w's job in the dead-letter queue. If that fails, the job is sent again with
// every attempt spent, so its next receive dead-letters it without another request; only if
// that fails too does the received message come back as it is.
func (p *Processor) deadLetter(ctx context.Context, w *pending, reason string, class Class) {
	ctx = context.WithoutCancel(ctx)
	p.count(telemetry.DeadLettered, reason)
	err := p.Queue.DeadLetter(ctx, w.msg.Body, reason, class)
	if err == nil {
		return
	}
	p.logger().Error("dead-letter delivery job", "delivery_id", w.job.ID, "error", err)
	spent := w.job
	spent.Attempts, spent.NotBefore = max(spent.Attempts, p.Schedule.MaxAttempts()), time.Time{}
	w.resend = &Resend{Job: spent, Delay: jitteredOwnFaultWait()}
}

func jitteredOwnFaultWait() time.Duration {
	return time.Duration(float64(ownFaultWait) * (0.5 + rand.Float64()))
}

// resendOwnFault hands jobs back without spending an attempt: our lookup failed (or the job
// panicked), the customer's receiver was never called. Jobs that cannot even be re-sent go
// back to the queue as batch item failures and come back with their count unchanged.
func (p *Processor) resendOwnFault(ctx context.Context, work []pending, why string) (failedIDs []string) {
	resends := make([]Resend, len(work))
	for i, w := range work {
		wait := jitteredOwnFaultWait()
		job := w.job
		job.NotBefore = p.now().Add(wait)
		resends[i] = Resend{Job: job, Delay: wait}
	}
	if err := p.Queue.Resend(context.WithoutCancel(ctx), resends); err != nil {
		p.logger().Error("resend delivery jobs after our own fault", "jobs", len(work), "why", why, "error", err)
		for _, w := range work {
			failedIDs = append(failedIDs, w.msg.ID)
		}
		return failedIDs
	}
	for range work {
		p.count(telemetry.OwnFaultRequeued, why)
	}
	return nil
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
