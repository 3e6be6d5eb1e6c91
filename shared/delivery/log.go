package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The delivery log: how the attempt log is read (a webhook's attempts page by page, newest
// first) and what can be done from it (send a delivery again, or every failed one since an
// outage). Both attempt stores implement the reads with the same semantics; the contract suite
// (tests/contract) holds them to it.

// Page sizes of a webhook's attempts.
const (
	DefaultAttemptPage = 20
	MaxAttemptPage     = 100
)

// AttemptQuery selects one page of a webhook's attempts, newest first.
type AttemptQuery struct {
	// Outcome, when set, keeps only the attempts with that outcome.
	Outcome Outcome
	// Since, when set, keeps only the attempts made at or after it.
	Since time.Time
	// Cursor is the previous page's NextCursor; empty for the first page.
	Cursor string
	// Limit is the page size, 1 to MaxAttemptPage; zero means DefaultAttemptPage.
	Limit int
}

// AttemptPage is one page of a webhook's attempts, newest first. A page with a NextCursor
// holds exactly Limit attempts and at least one more follows it; the last page has none.
type AttemptPage struct {
	Items      []Attempt
	NextCursor string
}

// Errors of the delivery log. An API answers ErrInvalidQuery (ErrInvalidCursor included) with
// 400 and ErrDeliveryNotFound with 404.
var (
	ErrInvalidQuery = errors.New("invalid attempt query")
	// ErrInvalidCursor is a cursor that is malformed or was issued for another webhook or
	// tenant.
	ErrInvalidCursor    = fmt.Errorf("%w: invalid cursor", ErrInvalidQuery)
	ErrDeliveryNotFound = errors.New("delivery not found")
	// ErrPayloadNotRecorded is a delivery whose attempts were logged without their payload
	// (over MaxLoggedPayload), which therefore cannot be sent again.
	ErrPayloadNotRecorded = errors.New("delivery payload was not recorded")
)

// AttemptKey is an attempt's place in its webhook's log, which both stores order by At, then
// DeliveryID, then Number. A cursor resumes after the key of the last attempt of a page.
type AttemptKey struct {
	At         time.Time
	DeliveryID string
	Number     int
}

// Key returns the attempt's place in its webhook's log.
func (a Attempt) Key() AttemptKey {
	return AttemptKey{At: a.At, DeliveryID: a.DeliveryID, Number: a.Number}
}

// Resolve checks q for the log of one webhook and returns the page size and, when q has a
// cursor, the key to resume after. Stores call it first, so both apply the same rules.
func (q AttemptQuery) Resolve(tenant, webhookID string) (limit int, after *AttemptKey, err error) {
	switch q.Outcome {
	case "", OutcomeSucceeded, OutcomeRetrying, OutcomeDeadLettered, OutcomeDisabled:
	default:
		return 0, nil, fmt.Errorf("%w: unknown outcome %q", ErrInvalidQuery, q.Outcome)
	}
	// Both stores keep times as fixed-width text, which holds the years 0001 to 9999.
	if y := q.Since.UTC().Year(); !q.Since.IsZero() && (y < 1 || y > 9999) {
		return 0, nil, fmt.Errorf("%w: since %v is outside the years 0001-9999", ErrInvalidQuery, q.Since)
	}
	switch {
	case q.Limit == 0:
		limit = DefaultAttemptPage
	case q.Limit < 1 || q.Limit > MaxAttemptPage:
		return 0, nil, fmt.Errorf("%w: limit %d is not between 1 and %d", ErrInvalidQuery, q.Limit, MaxAttemptPage)
	default:
		limit = q.Limit
	}
	if q.Cursor == "" {
		return limit, nil, nil
	}
	key, err := decodeCursor(tenant, webhookID, q.Cursor)
	if err != nil {
		return 0, nil, err
	}
	return limit, &key, nil
}

// NextCursor returns the cursor of the page that follows last in the webhook's log.
func NextCursor(tenant, webhookID string, last Attempt) string {
	b, _ := json.Marshal(cursor{
		Version: cursorVersion, Scope: cursorScope(tenant, webhookID),
		At: last.At.UTC().Format(time.RFC3339Nano), DeliveryID: last.DeliveryID, Number: last.Number,
	})
	return base64.RawURLEncoding.EncodeToString(b)
}

// cursor is opaque to clients. It carries a digest of the tenant and webhook it was issued
// for, so a cursor replayed on another webhook's log is refused instead of silently paging
// from a foreign position. It needs no signature: a store reads only the requested webhook's
// partition, so a forged cursor can at worst skip within the caller's own log.
type cursor struct {
	Version    int    `json:"v"`
	Scope      string `json:"s"`
	At         string `json:"at"`
	DeliveryID string `json:"d"`
	Number     int    `json:"n"`
}

const cursorVersion = 1

func cursorScope(tenant, webhookID string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + webhookID))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func decodeCursor(tenant, webhookID, s string) (AttemptKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return AttemptKey{}, fmt.Errorf("%w: not base64url", ErrInvalidCursor)
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.Version != cursorVersion {
		return AttemptKey{}, fmt.Errorf("%w: malformed", ErrInvalidCursor)
	}
	if c.Scope != cursorScope(tenant, webhookID) {
		return AttemptKey{}, fmt.Errorf("%w: issued for another webhook", ErrInvalidCursor)
	}
	at, err := time.Parse(time.RFC3339Nano, c.At)
	if err != nil || at.Year() < 1 || at.Year() > 9999 || c.DeliveryID == "" || c.Number < 0 {
		return AttemptKey{}, fmt.Errorf("%w: malformed", ErrInvalidCursor)
	}
	return AttemptKey{At: at, DeliveryID: c.DeliveryID, Number: c.Number}, nil
}

// AttemptReader reads the attempt log.
type AttemptReader interface {
	// AttemptsOfDelivery returns every attempt of one delivery in time order; none when the
	// tenant has no such delivery.
	AttemptsOfDelivery(ctx context.Context, tenant, deliveryID string) ([]Attempt, error)
	// AttemptsOfWebhook returns one page of a webhook's attempts, newest first.
	AttemptsOfWebhook(ctx context.Context, tenant, webhookID string, q AttemptQuery) (AttemptPage, error)
}

// JobQueue accepts jobs; when Enqueue returns nil every job is durably queued.
type JobQueue interface {
	Enqueue(ctx context.Context, jobs []Job) error
}

// MaxRecover bounds the deliveries one Recover call queues: a thousand jobs are a few seconds
// of reads and 100 SQS batches, well inside an API request's time; a longer outage is
// recovered by calling again once these have been attempted.
const MaxRecover = 1000

// recoverLookups bounds the delivery reads Recover runs at once. Each is one DynamoDB Query
// of a few milliseconds, so 1,000 candidates one at a time would take 3 to 10 s; eight at a
// time take about a second and stay far below an on-demand table's throttling.
const recoverLookups = 8

// Redeliverer sends recorded deliveries again. A redelivery is the recorded job with the same
// ID, so the receiver sees the same webhook-id and can deduplicate, and with no attempts counted,
// so it gets the whole retry schedule afresh.
type Redeliverer struct {
	Log   AttemptReader
	Queue JobQueue
	// Now is the clock Recover checks its since against; nil means time.Now.
	Now func() time.Time
}

// Redeliver queues one delivery again and returns the job queued. It returns
// ErrDeliveryNotFound when the tenant has no such delivery and ErrPayloadNotRecorded when its
// payload was not logged. It sends whatever became of the delivery, even one still being
// retried: the receiver deduplicates the copies by webhook-id.
func (r *Redeliverer) Redeliver(ctx context.Context, tenant, deliveryID string) (Job, error) {
	attempts, err := r.Log.AttemptsOfDelivery(ctx, tenant, deliveryID)
	if err != nil {
		return Job{}, fmt.Errorf("read attempts of delivery %s: %w", deliveryID, err)
	}
	job, err := jobOf(attempts)
	if err != nil {
		return Job{}, fmt.Errorf("redeliver %s: %w", deliveryID, err)
	}
	if err := r.Queue.Enqueue(ctx, []Job{job}); err != nil {
		return Job{}, fmt.Errorf("enqueue redelivery of %s: %w", deliveryID, err)
	}
	return job, nil
}

// Recover queues again, once each, the deliveries of a webhook that failed for good at or
// after since: those whose latest attempt was dead-lettered. A delivery that succeeded after a
// redelivery, or is being retried, is left alone, and so is one whose payload was not logged.
// It queues at most limit deliveries (MaxRecover when limit is not between 1 and MaxRecover),
// newest failure first, and returns how many it queued, also when it stops on an error.
//
// A delivery queued here stays dead-lettered in the log until its redelivery is attempted, so
// calling Recover again before then queues it again; receivers deduplicate it by webhook-id.
func (r *Redeliverer) Recover(ctx context.Context, tenant, webhookID string, since time.Time, limit int) (queued int, err error) {
	if limit < 1 || limit > MaxRecover {
		limit = MaxRecover
	}
	if now := r.now(); since.After(now) {
		return 0, fmt.Errorf("recover deliveries of webhook %s: %w: since %s is in the future", webhookID, ErrInvalidQuery,
			since.UTC().Format(time.RFC3339))
	}
	// Dead-lettered attempts find the candidates; each candidate's own attempts then tell
	// whether a later redelivery succeeded, which the webhook's log alone, filtered or
	// paged, cannot show without reading every success.
	seen := map[string]bool{}
	q := AttemptQuery{Outcome: OutcomeDeadLettered, Since: since, Limit: MaxAttemptPage}
	for {
		page, err := r.Log.AttemptsOfWebhook(ctx, tenant, webhookID, q)
		if err != nil {
			return queued, fmt.Errorf("recover deliveries of webhook %s: %w", webhookID, err)
		}
		var candidates []string
		for _, a := range page.Items {
			if !seen[a.DeliveryID] {
				seen[a.DeliveryID] = true
				candidates = append(candidates, a.DeliveryID)
			}
		}
		var batch []Job
		for len(candidates) > 0 && queued+len(batch) < limit {
			// Read no more deliveries than the limit still allows, unless some are skipped.
			n := min(len(candidates), limit-queued-len(batch))
			jobs, err := r.failedJobs(ctx, tenant, candidates[:n])
			if err != nil {
				return queued, fmt.Errorf("recover deliveries of webhook %s: %w", webhookID, err)
			}
			batch = append(batch, jobs...)
			candidates = candidates[n:]
		}
		if len(batch) > 0 {
			if err := r.Queue.Enqueue(ctx, batch); err != nil {
				return queued, fmt.Errorf("recover deliveries of webhook %s: enqueue %d: %w", webhookID, len(batch), err)
			}
			queued += len(batch)
		}
		if queued >= limit || page.NextCursor == "" {
			return queued, nil
		}
		q.Cursor = page.NextCursor
	}
}

// failedJobs reads the deliveries and returns, in their order, the jobs of those whose latest
// attempt was dead-lettered and whose payload was logged.
func (r *Redeliverer) failedJobs(ctx context.Context, tenant string, ids []string) ([]Job, error) {
	jobs := make([]*Job, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, recoverLookups)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			attempts, err := r.Log.AttemptsOfDelivery(ctx, tenant, id)
			if err != nil {
				errs[i] = fmt.Errorf("read attempts of delivery %s: %w", id, err)
				return
			}
			if len(attempts) == 0 || latest(attempts).Outcome != OutcomeDeadLettered {
				return
			}
			if job, err := jobOf(attempts); err == nil {
				jobs[i] = &job
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []Job
	for _, j := range jobs {
		if j != nil {
			out = append(out, *j)
		}
	}
	return out, nil
}

// jobOf rebuilds a delivery's job from its attempts, taking the payload of the latest attempt
// that has one.
func jobOf(attempts []Attempt) (Job, error) {
	if len(attempts) == 0 {
		return Job{}, ErrDeliveryNotFound
	}
	var from *Attempt
	for i := range attempts {
		a := &attempts[i]
		if len(a.Payload) > 0 && (from == nil || later(*a, *from)) {
			from = a
		}
	}
	if from == nil {
		return Job{}, ErrPayloadNotRecorded
	}
	job := Job{ID: from.DeliveryID, TenantID: from.TenantID, Kind: from.Kind, WebhookID: from.WebhookID, OwnerID: from.OwnerID,
		EventType: from.EventType, Payload: from.Payload}
	if err := job.Validate(); err != nil {
		return Job{}, fmt.Errorf("rebuild job from attempt %d: %w", from.Number, err)
	}
	return job, nil
}

// latest returns the attempt made last. Attempt numbers start again at 1 with each
// redelivery, so time decides, and the number only between attempts made at the same instant.
func latest(attempts []Attempt) Attempt {
	last := attempts[0]
	for _, a := range attempts[1:] {
		if later(a, last) {
			last = a
		}
	}
	return last
}

func later(a, b Attempt) bool {
	if !a.At.Equal(b.At) {
		return a.At.After(b.At)
	}
	return a.Number > b.Number
}

func (r *Redeliverer) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}
