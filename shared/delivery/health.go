package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald/shared/telemetry"
)

// Endpoint health: a webhook that fails every attempt for long enough is disabled, and its
// owner is told. The state is a failure streak kept on the webhook's own record: the first
// failure after a success starts it, every failure adds to it, and the first success after it
// ends it. A success costs nothing to keep this: the streak's start is read with the webhook
// (Endpoint.FailingSince), and only a success that finds a streak writes, once, to end it.
// Each failed attempt writes once, beside its attempt record.

// HealthPolicy says when a failing webhook is disabled.
type HealthPolicy struct {
	// DisableAfter is how long a webhook must fail every attempt before it is disabled,
	// counted from the streak's first failure. Zero never disables a webhook for failing.
	DisableAfter time.Duration
	// MinFailures is how many failures a streak must gather within StreakArmWindow of its
	// start before it counts at all: one failure a day is not an endpoint that is down, and
	// a streak that has not gathered them by then starts again at its next failure.
	MinFailures int
}

// DefaultHealthPolicy is Svix's: five days of failures, counted once several came within a
// day.
var DefaultHealthPolicy = HealthPolicy{DisableAfter: 5 * 24 * time.Hour, MinFailures: 5}

// StreakArmWindow is the time a streak has to gather MinFailures failures.
const StreakArmWindow = 24 * time.Hour

// FailureStreak is a webhook's run of failed attempts since its last success.
type FailureStreak struct {
	Since    time.Time
	Failures int
}

// Due reports whether a streak, as it stands at now, disables its webhook under p.
func (p HealthPolicy) Due(s FailureStreak, now time.Time) bool {
	return p.DisableAfter > 0 && s.Failures >= p.MinFailures && now.Sub(s.Since) >= p.DisableAfter
}

// stale reports a streak that did not gather MinFailures failures within StreakArmWindow of
// its start: it starts again at the failure being recorded.
func (p HealthPolicy) stale(s FailureStreak, now time.Time) bool {
	return s.Failures < p.MinFailures && now.Sub(s.Since) > StreakArmWindow
}

// Reason is the disabled_reason of a webhook that streak disabled.
func (s FailureStreak) Reason() string {
	return fmt.Sprintf("every attempt failed since %s (%d failed attempts): disabled automatically",
		s.Since.UTC().Format(time.RFC3339), s.Failures)
}

// HealthStore keeps failure streaks on webhook records. Every method is scoped by the ref's
// tenant, and a webhook deleted meanwhile is not an error: there is nothing left to keep.
type HealthStore interface {
	// AddFailure adds a failure at at to ref's streak, starting one there if there is none,
	// and returns the streak as it now stands.
	AddFailure(ctx context.Context, ref EndpointRef, at time.Time) (FailureStreak, error)
	// RestartStreak makes ref's streak one failure at at, if it still starts at since.
	RestartStreak(ctx context.Context, ref EndpointRef, since, at time.Time) error
	// EndStreak ends ref's streak, if it still starts at since: a success came after it.
	EndStreak(ctx context.Context, ref EndpointRef, since time.Time) error
	// DisableFailing disables ref with reason if it is enabled and its streak still starts at
	// since, and says whether it did; the webhook's version grows, and so does its
	// notification's, as DisableWebhook's does.
	DisableFailing(ctx context.Context, ref EndpointRef, since time.Time, reason string) (DisabledWebhook, bool, error)
}

// DisabledWebhook is a webhook that health disabled, as its owner is told of it.
type DisabledWebhook struct {
	TenantID  string
	WebhookID string
	// NotificationID is the webhook's notification; empty for a stage webhook.
	NotificationID string
	OwnerID        string
	URL            string
	// AlertEmail is a stage webhook's address to tell; a notification's webhook tells its
	// notification's addresses instead.
	AlertEmail   string
	Reason       string
	FailingSince time.Time
	Failures     int
	DisabledAt   time.Time
}

// DisabledAlerter tells a webhook's owner that health disabled it.
type DisabledAlerter interface {
	WebhookDisabled(ctx context.Context, w DisabledWebhook) error
}

// keepHealth updates the streak of w's webhook after its attempt: a failure adds to it (and
// may disable the webhook), a success ends one the endpoint showed. It returns true when it
// disabled the webhook. Health is bookkeeping: a store that fails here is logged and counted,
// and the delivery goes on as it would have.
func (p *Processor) keepHealth(ctx context.Context, w *pending, res Result, at time.Time) (disabled bool) {
	if p.Health == nil || w.job.Kind != KindWebhook || res.Class == ClassHTTPGone {
		return false
	}
	ref := w.job.Ref()
	ctx = context.WithoutCancel(ctx)
	if res.Class == ClassNone {
		if !w.endpoint.FailingSince.IsZero() {
			if err := p.Health.EndStreak(ctx, ref, w.endpoint.FailingSince); err != nil {
				p.healthFault(w, "end_streak", err)
			}
		}
		return false
	}
	streak, err := p.Health.AddFailure(ctx, ref, at)
	if err != nil {
		p.healthFault(w, "add_failure", err)
		return false
	}
	switch {
	case streak.Since.IsZero():
		// The webhook was deleted meanwhile.
		return false
	case p.HealthPolicy.stale(streak, at):
		if err := p.Health.RestartStreak(ctx, ref, streak.Since, at); err != nil {
			p.healthFault(w, "restart_streak", err)
		}
		return false
	case !p.HealthPolicy.Due(streak, at):
		return false
	}
	hook, done, err := p.Health.DisableFailing(ctx, ref, streak.Since, streak.Reason())
	if err != nil {
		p.healthFault(w, "disable", err)
		return false
	}
	if !done {
		// Disabled already, by another attempt of the same streak or by its owner.
		return false
	}
	p.logger().Warn("webhook disabled: every attempt failed for too long", "tenant_id", hook.TenantID, "webhook_id", hook.WebhookID,
		"failing_since", hook.FailingSince, "failures", hook.Failures, "host", hostOf(hook.URL))
	p.count(telemetry.WebhooksDisabled, "failing")
	if p.Alerter != nil {
		if err := p.Alerter.WebhookDisabled(ctx, hook); err != nil {
			// The webhook is disabled either way, and the API and console show it with its
			// reason; only the owner's email or the bus event is missing.
			p.logger().Error("tell the owner a webhook was disabled", "tenant_id", hook.TenantID, "webhook_id", hook.WebhookID, "error", err)
			p.count(telemetry.HealthFaults, "alert")
		}
	}
	return true
}

func (p *Processor) healthFault(w *pending, op string, err error) {
	p.logger().Error("keep webhook health", "op", op, "tenant_id", w.job.TenantID, "webhook_id", w.job.WebhookID, "error", err)
	p.count(telemetry.HealthFaults, op)
}
