package delivery

import (
	"context"
	"time"

	"github.com/heraldhq/herald/shared/telemetry"
)

// Per-webhook rate limits. A webhook's attempts are given slots 1/limit apart from a store that
// every delivery process shares (one DynamoDB item per webhook on AWS, one SQLite row locally),
// so the limit holds across concurrent Lambda invocations and local pollers alike. A batch
// takes the slots of all its jobs for one webhook in one request. A job whose slot is near is
// held in the process until it; one whose slot is further off goes back to the queue, due a
// moment before it, carrying the slot, and is then held until it. Waiting spends no attempt.
// A webhook without a limit costs nothing here.

// RateLimiter hands out send slots.
type RateLimiter interface {
	// Reserve takes n consecutive slots, interval apart, for ref's attempts and returns the
	// first: the later of now and the end of the slots handed out before.
	Reserve(ctx context.Context, ref EndpointRef, n int, interval time.Duration, now time.Time) (first time.Time, err error)
}

const (
	// holdWindow is how far off a slot may be for its job to be held in the process rather
	// than sent back to the queue. It covers the queue's delay (whole seconds), Lambda's
	// batching window (1 s) and the poll: a job sent back comes due holdWindow before its slot,
	// so it is received before it, not after.
	holdWindow = 3 * time.Second
	// lateTolerance is how late after its slot a job may still be attempted on it. Later than
	// that, its slot has passed and sending it would crowd the slots after it: it takes a new
	// one. 25 ms keeps any one-second window within 10 % of a limit of 4 a second or more.
	lateTolerance = 25 * time.Millisecond
	// carriedHold is how far off the slot a job brought back may be and still be held: the
	// queue hands it over up to a second early (whole-second delays) and the processor takes
	// it up to notBeforeSlack before it is due, so it is never sent back a second time.
	carriedHold = holdWindow + time.Second + notBeforeSlack
)

// interval is the spacing of slots for a limit of perSecond attempts a second.
func interval(perSecond int) time.Duration {
	return time.Second / time.Duration(perSecond)
}

// scheduleSlots gives every job of a rate-limited webhook its slot: the one it carries, if it
// is not past, else a new one. It returns the jobs to attempt now (those whose slot is within
// holdWindow; each is held until its slot by attemptOne), and marks the others to be sent back,
// due holdWindow before their slot. A limiter that fails marks the jobs as our own fault.
func (p *Processor) scheduleSlots(ctx context.Context, work []pending, now time.Time) {
	type group struct {
		ref  EndpointRef
		jobs []*pending
	}
	var groups []*group
	byRef := map[EndpointRef]*group{}
	for i := range work {
		w := &work[i]
		limit := w.endpoint.RateLimitPerSecond
		if w.job.Kind != KindWebhook || limit <= 0 || !w.ready {
			continue
		}
		if !w.job.Slot.IsZero() && now.Sub(w.job.Slot) <= lateTolerance && w.job.Slot.Sub(now) <= carriedHold {
			w.holdUntil = w.job.Slot
			continue
		}
		ref := w.job.Ref()
		g := byRef[ref]
		if g == nil {
			g = &group{ref: ref}
			byRef[ref] = g
			groups = append(groups, g)
		}
		g.jobs = append(g.jobs, w)
	}
	for _, g := range groups {
		step := interval(g.jobs[0].endpoint.RateLimitPerSecond)
		first, err := p.Limiter.Reserve(ctx, g.ref, len(g.jobs), step, now)
		if err != nil {
			p.logger().Error("reserve rate-limit slots", "tenant_id", g.ref.TenantID, "webhook_id", g.ref.WebhookID, "jobs", len(g.jobs), "error", err)
			for _, w := range g.jobs {
				w.ownFault, w.ready = "rate_limit", false
			}
			continue
		}
		for i, w := range g.jobs {
			w.holdUntil = first.Add(time.Duration(i) * step)
		}
	}
	for i := range work {
		w := &work[i]
		if !w.ready || w.holdUntil.Sub(now) <= holdWindow {
			continue
		}
		// Too far off to hold: back to the queue with its slot, due a little before it.
		next := w.job
		next.Slot = w.holdUntil
		next.NotBefore = w.holdUntil.Add(-holdWindow)
		w.resend = &Resend{Job: next, Delay: min(next.NotBefore.Sub(now), MaxDelay)}
		w.ready = false
		p.count(telemetry.RateLimited, "waiting")
	}
}

// holdForSlot waits until w's slot, if it has one; false means the batch was stopped first.
func holdForSlot(ctx context.Context, w *pending, now time.Time) bool {
	wait := w.holdUntil.Sub(now)
	if w.holdUntil.IsZero() || wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
