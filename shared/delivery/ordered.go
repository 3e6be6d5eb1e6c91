package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/heraldhq/herald/shared/telemetry"
)

// Ordered delivery. The jobs of a webhook with `ordered` ride a FIFO queue in one message group
// per endpoint (Job.OrderGroup), which hands out a group's messages in the order they were sent
// and none of them while one is in flight. The processor keeps that order by never sending an
// ordered job again as a new message (it would join the back of its group): a job that waits
// for a retry, for its rate-limit slot or after our own fault stays where it is, invisible
// until it is due (RetryLater), and the later jobs of its group received with it are made
// visible again at once, to wait behind it. Its receiver's head-of-line failure therefore holds
// back that webhook's later deliveries only, until it succeeds or is dead-lettered.
//
// A kept message carries the attempt count it was sent with, so the count of a message
// received more than once is read from the attempt log instead (one Query, made only on a
// repeat receive, and only until a job of the group proves unattempted); the log also gives the time its next attempt is due, and tells when the
// delivery already succeeded (delivered, but the message was not deleted), which then is not
// sent again.

// orderedRun is one group's jobs of a batch, in queue order, and what became of them.
type orderedRun struct {
	jobs  []*pending
	parks []Retry
	// unattempted is set once a job of the run proves to have no attempts yet: a group's jobs
	// are attempted in order, so none after it has any, and their lookups are skipped.
	unattempted bool
}

// processOrdered attempts the ordered jobs of a batch: each group in turn, its jobs one after
// the other, stopping at the first that must wait. It returns the messages that stay on the
// queue.
func (p *Processor) processOrdered(ctx context.Context, work []pending, now time.Time) (failedIDs []string) {
	var runs []*orderedRun
	byGroup := map[string]*orderedRun{}
	for i := range work {
		key := work[i].job.OrderGroup()
		run := byGroup[key]
		if run == nil {
			run = &orderedRun{}
			byGroup[key] = run
			runs = append(runs, run)
		}
		run.jobs = append(run.jobs, &work[i])
	}
	endpoints, err := p.lookUpEndpoints(ctx, work)
	if err != nil {
		p.logger().Error("look up webhooks for ordered batch", "jobs", len(work), "error", err)
		for _, run := range runs {
			run.hold(0, jitteredOwnFaultWait(), now)
			p.count(telemetry.OwnFaultRequeued, "endpoint_lookup")
		}
	} else {
		attemptCtx, cancel := withAttemptDeadline(ctx)
		defer cancel()
		// Groups are independent: they run side by side, each in its own order.
		sem := make(chan struct{}, max(p.Concurrency, DefaultConcurrency))
		var wg sync.WaitGroup
		for _, run := range runs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				p.runOrdered(attemptCtx, run, endpoints, now)
			})
		}
		wg.Wait()
	}

	var attempts []Attempt
	var parks []Retry
	for _, run := range runs {
		parks = append(parks, run.parks...)
		for _, w := range run.jobs {
			if w.attempt != nil {
				attempts = append(attempts, *w.attempt)
			}
		}
	}
	for _, r := range parks {
		failedIDs = append(failedIDs, r.Message.ID)
	}
	// The log first: a message made visible at once is read again, and its attempt count
	// with it, moments from now.
	if len(attempts) > 0 {
		if err := p.recordAttempts(context.WithoutCancel(ctx), attempts); err != nil {
			p.logger().Error("record ordered delivery attempts", "attempts", len(attempts), "error", err)
			p.count(telemetry.AttemptLogLost, "record_failed")
			for _, run := range runs {
				for _, w := range run.jobs {
					if w.recordOnly {
						failedIDs = append(failedIDs, w.msg.ID)
					}
				}
			}
		}
	}
	if len(parks) > 0 {
		// A message whose wait could not be set comes back after the queue's visibility
		// timeout, still ahead of its group's later messages.
		if failed, err := p.Queue.RetryLater(context.WithoutCancel(ctx), parks); err != nil {
			p.logger().Error("keep ordered deliveries in place", "messages", len(parks), "failed", len(failed), "error", err)
		}
	}
	return failedIDs
}

// runOrdered attempts run's jobs in order until one must wait.
func (p *Processor) runOrdered(ctx context.Context, run *orderedRun, endpoints endpointSet, now time.Time) {
	endpointOff := false
	for i, w := range run.jobs {
		// The clock is read per job: the jobs before it took their time, and its slot and
		// due time are counted from its own turn.
		if wait, stop := p.prepareOrdered(ctx, run, w, endpoints, endpointOff, p.now()); stop {
			run.hold(i, wait, now)
			return
		}
		if !w.ready {
			continue // dropped or recorded as dropped: the next job goes on
		}
		p.attemptOne(ctx, w)
		switch {
		case w.ownFault != "":
			p.count(telemetry.OwnFaultRequeued, w.ownFault)
			run.hold(i, jitteredOwnFaultWait(), now)
			return
		case w.resend != nil:
			// Waits for its next attempt, in place. A zero NotBefore is a dead letter that
			// could not be sent: it comes back after our own-fault wait and, its attempts
			// spent (the log says so), is dead-lettered then.
			due := w.resend.Job.NotBefore
			if due.IsZero() {
				due = p.now().Add(jitteredOwnFaultWait())
			}
			w.resend = nil
			run.hold(i, due.Sub(p.now()), p.now())
			return
		case w.returnToQueue:
			run.hold(i, 0, now)
			return
		}
		endpointOff = endpointOff || w.endpointOff
	}
}

// prepareOrdered readies w for its attempt: its count and due time from the log on a repeat
// receive, its endpoint, and its rate-limit slot. stop means w must wait (for wait) and the
// rest of its group behind it.
func (p *Processor) prepareOrdered(ctx context.Context, run *orderedRun, w *pending, endpoints endpointSet, endpointOff bool, now time.Time) (wait time.Duration, stop bool) {
	if w.msg.ReceiveCount > 1 && !run.unattempted {
		attempts, err := p.History.AttemptsOfDelivery(ctx, w.job.TenantID, w.job.ID)
		if err != nil {
			p.logger().Error("read the attempts of an ordered delivery", "delivery_id", w.job.ID, "error", err)
			p.count(telemetry.OwnFaultRequeued, "history_lookup")
			return jitteredOwnFaultWait(), true
		}
		var last *Attempt
		for i := range attempts {
			a := &attempts[i]
			if a.WebhookID != w.job.WebhookID {
				continue
			}
			if a.Outcome == OutcomeSucceeded {
				p.drop(w, ReasonAlreadyDelivered)
				return 0, false
			}
			if last == nil || a.Number > last.Number {
				last = a
			}
		}
		run.unattempted = last == nil
		if last != nil {
			w.job.Attempts = max(w.job.Attempts, last.Number)
			if last.Outcome == OutcomeRetrying && last.NextAttemptAt.Sub(now) > notBeforeSlack {
				// Back before its retry is due (a wait longer than the queue lets a message
				// stay hidden): hidden again without an attempt.
				return last.NextAttemptAt.Sub(now), true
			}
		}
	}
	ep, found := endpoints.get(w.job.Ref())
	switch {
	case !found:
		p.drop(w, ReasonWebhookDeleted)
		return 0, false
	case !ep.Enabled || endpointOff:
		p.drop(w, ReasonWebhookDisabled)
		p.recordDisabled(w)
		return 0, false
	}
	w.endpoint, w.ready = ep, true
	if ep.RateLimitPerSecond <= 0 || p.Limiter == nil || w.job.Kind != KindWebhook {
		return 0, false
	}
	// One slot at a time: an ordered webhook has one job in flight, so its slots are never
	// booked far ahead.
	slot, err := p.Limiter.Reserve(ctx, w.job.Ref(), 1, interval(ep.RateLimitPerSecond), now)
	if err != nil {
		p.logger().Error("reserve a rate-limit slot", "tenant_id", w.job.TenantID, "webhook_id", w.job.WebhookID, "error", err)
		p.count(telemetry.OwnFaultRequeued, "rate_limit")
		w.ready = false
		return jitteredOwnFaultWait(), true
	}
	if slot.Sub(now) > holdWindow {
		p.count(telemetry.RateLimited, "waiting")
		w.ready = false
		return slot.Sub(now), true
	}
	w.holdUntil = slot
	return 0, false
}

// hold keeps the run's job i in place for wait and makes the jobs after it visible again at
// once, to wait behind it. The wait is cut to what the queue allows the message (see
// appendPark); it comes back early then and is hidden again.
func (run *orderedRun) hold(i int, wait time.Duration, now time.Time) {
	head := run.jobs[i].msg
	received := head.ReceivedAt
	if received.IsZero() || received.After(now) {
		received = now
	}
	wait = max(0, min(wait, MaxVisibility-visibilityMargin-now.Sub(received)))
	run.parks = append(run.parks, Retry{Message: head, Wait: wait})
	for _, w := range run.jobs[i+1:] {
		run.parks = append(run.parks, Retry{Message: w.msg})
	}
}
