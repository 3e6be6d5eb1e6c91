package mailbatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/shared/mail"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Sender sends one email (SES on AWS, the outbox locally).
type Sender interface {
	Send(ctx context.Context, e mail.Email) error
}

// Defaults of a Mailer.
const (
	DefaultInterval = 5 * time.Minute
	// DefaultRate is SES's default sending quota outside the sandbox, 14 messages a second.
	DefaultRate = 14
	// DefaultWorkers sends this many emails at once: one SES call takes tens of milliseconds,
	// so one at a time would not reach the rate.
	DefaultWorkers = 8
	// DefaultLease is how long a claimed recipient is held by a run that may have crashed.
	DefaultLease = 2 * time.Minute
	// DefaultMaxLines caps one email; a recipient with more gets the rest in the next window.
	DefaultMaxLines = 500
	// DefaultReserve is kept back before the run's deadline to finish the sends under way.
	DefaultReserve = 15 * time.Second
	// DefaultGiveUpAfter is how long a line is retried, window after window, while its
	// recipient's emails fail: an address SES refuses for good would otherwise be tried every
	// window forever and its lines kept. Three days leave a weekend to fix a sending identity
	// or a quota.
	DefaultGiveUpAfter = 72 * time.Hour
	// throttleTries bounds the attempts of one email the mail service throttles, with waits
	// doubling from a second; the recipient then waits for the next window.
	throttleTries = 4
)

// Mailer sends each pending recipient one email per window.
type Mailer struct {
	Store    Store
	Sender   Sender
	From     string
	Links    Links
	Interval time.Duration
	// Rate is emails per second at most; throttling by the mail service halves it for the
	// rest of the run.
	Rate     float64
	Workers  int
	Lease    time.Duration
	MaxLines int
	Reserve  time.Duration
	// GiveUpAfter: when a recipient's email fails, its lines stored (Line.AddedAt) longer ago
	// than this are given up (kept as sent, so a repeated event is not mailed either),
	// logged and counted (EmailLinesGivenUp); the younger ones wait for the next window.
	GiveUpAfter time.Duration
	Counter     telemetry.Counter
	Logger      *slog.Logger
	Now         func() time.Time
}

// Report counts what one run did.
type Report struct {
	// Sent emails; Failed recipients whose send failed (their lines wait for the next window);
	// GivenUp lines of failed sends older than GiveUpAfter; Claimed elsewhere, recipients
	// another run has for this window; Stopped is true when the run ended at its deadline with
	// recipients left for the next one.
	Sent, Failed, GivenUp, ClaimedElsewhere int
	Stopped                                 bool
}

// Window returns the number of the send window at t.
func (m *Mailer) Window(t time.Time) int64 {
	return t.Unix() / int64(m.interval()/time.Second)
}

// Run sends the emails of the current window. Exactly once per recipient and window: a claim
// (a conditional write) comes before each send, so a schedule that fires twice or two runs
// that overlap send one email; a line is marked sent only after its email went out, so none
// is lost. The recipients are read a page at a time while workers send, so memory does not
// grow with their number. A run that reaches its deadline stops taking recipients; those left
// are still pending and go out in the next window.
func (m *Mailer) Run(ctx context.Context) (Report, error) {
	if err := m.Links.Validate(); err != nil {
		return Report{}, err
	}
	window := m.Window(m.now())
	limiter := rate.NewLimiter(rate.Limit(m.rate()), 1)
	work := make(chan Recipient)
	var (
		mu     sync.Mutex
		report Report
		wg     sync.WaitGroup
	)
	add := func(f func(*Report)) { mu.Lock(); f(&report); mu.Unlock() }
	for range m.workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				m.one(ctx, r, window, limiter, add)
			}
		}()
	}
	stopAt, hasDeadline := ctx.Deadline()
	stopAt = stopAt.Add(-m.reserve())
	var err error
	for r, rerr := range m.Store.PendingRecipients(ctx) {
		if rerr != nil {
			err = fmt.Errorf("list recipients with pending email lines: %w", rerr)
			break
		}
		if hasDeadline && m.now().After(stopAt) {
			add(func(r *Report) { r.Stopped = true })
			break
		}
		select {
		case work <- r:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return report, err
}

// one sends r's email of window, if r is still unclaimed for it.
func (m *Mailer) one(ctx context.Context, r Recipient, window int64, limiter *rate.Limiter, add func(func(*Report))) {
	log := m.logger().With("tenant_id", r.TenantID, "window", window)
	now := m.now()
	c, ok, err := m.Store.Claim(ctx, r, window, now, now.Add(m.lease()))
	if err != nil {
		log.Error("claim a recipient's email", "error", err)
		add(func(rep *Report) { rep.Failed++ })
		return
	}
	if !ok {
		add(func(rep *Report) { rep.ClaimedElsewhere++ })
		return
	}
	lines, err := m.Store.PendingLines(ctx, r, m.maxLines())
	if err == nil && len(lines) == 0 {
		// Pending with nothing to send (lines sent by a run that could not clear the mark).
		err = m.Store.MarkSent(ctx, c, nil, true, now)
		if err != nil {
			log.Error("clear an empty recipient", "error", err)
		}
		return
	}
	var email mail.Email
	if err == nil {
		email, err = Compose(m.From, c, lines, m.Links)
	}
	if err == nil {
		err = m.send(ctx, email, limiter)
	}
	if err != nil {
		// The lines stay pending and go out in the next window; the claim's lease ends so
		// that window's run may take it.
		log.Warn("email not sent: its lines wait for the next window", "email_id", email.ID, "lines", len(lines), "error", err)
		m.count(telemetry.EmailsFailed, failureReason(err))
		add(func(rep *Report) { rep.Failed++ })
		if m.giveUpOld(context.WithoutCancel(ctx), c, lines, now, failureReason(err), log, add) {
			return
		}
		if rerr := m.Store.Release(context.WithoutCancel(ctx), c); rerr != nil {
			log.Error("release a recipient's claim", "error", rerr)
		}
		return
	}
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ID
	}
	// The email is out: its lines must be marked even if the run is being stopped, or the
	// next window would send them again.
	if err := m.Store.MarkSent(context.WithoutCancel(ctx), c, ids, len(lines) < m.maxLines(), m.now()); err != nil {
		log.Error("mark email lines sent: the next window may send them again", "email_id", email.ID, "error", err)
	}
	m.count(telemetry.EmailsSent, "ok")
	add(func(rep *Report) { rep.Sent++ })
	log.Info("email sent", "email_id", email.ID, "lines", len(lines))
}

// giveUpOld gives up the lines of a failed email stored more than GiveUpAfter before now:
// marked sent, which also ends the claim's lease. It reports whether it did (the
// caller then has no claim to release).
func (m *Mailer) giveUpOld(ctx context.Context, c Claim, lines []Line, now time.Time, reason string, log *slog.Logger, add func(func(*Report))) bool {
	cutoff := now.Add(-m.giveUpAfter())
	var old []string
	for _, l := range lines {
		if !l.AddedAt.IsZero() && l.AddedAt.Before(cutoff) {
			old = append(old, l.ID)
		}
	}
	if len(old) == 0 {
		return false
	}
	allGone := len(old) == len(lines) && len(lines) < m.maxLines()
	if err := m.Store.MarkSent(ctx, c, old, allGone, now); err != nil {
		log.Error("give up email lines: they are retried in the next window", "lines", len(old), "error", err)
		return false
	}
	log.Error("email lines given up: stored longer ago than the give-up age, and their email failed again",
		"lines", len(old), "give_up_after", m.giveUpAfter().String(), "reason", reason)
	for range old {
		m.count(telemetry.EmailLinesGivenUp, reason)
	}
	add(func(rep *Report) { rep.GivenUp += len(old) })
	return true
}

// send waits for the rate and sends, backing off when the mail service throttles.
func (m *Mailer) send(ctx context.Context, e mail.Email, limiter *rate.Limiter) error {
	wait := time.Second
	for try := 1; ; try++ {
		if err := limiter.Wait(ctx); err != nil {
			return fmt.Errorf("wait for the sending rate: %w", err)
		}
		err := m.Sender.Send(ctx, e)
		if !errors.Is(err, mail.ErrThrottled) || try == throttleTries {
			return err
		}
		if l := limiter.Limit() / 2; l >= 0.1 {
			limiter.SetLimit(l)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait *= 2
	}
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, mail.ErrThrottled):
		return "throttled"
	case errors.Is(err, mail.ErrRejected):
		return "rejected"
	case errors.Is(err, mail.ErrInvalid):
		return "invalid"
	}
	return "error"
}

func (m *Mailer) count(metric, dim string) {
	if m.Counter != nil {
		m.Counter.Count(metric, dim)
	}
}

func (m *Mailer) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

func (m *Mailer) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

func orDefault[T int | float64 | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

func (m *Mailer) interval() time.Duration {
	return max(orDefault(m.Interval, DefaultInterval), time.Second)
}
func (m *Mailer) rate() float64          { return orDefault(m.Rate, DefaultRate) }
func (m *Mailer) workers() int           { return orDefault(m.Workers, DefaultWorkers) }
func (m *Mailer) lease() time.Duration   { return orDefault(m.Lease, DefaultLease) }
func (m *Mailer) maxLines() int          { return orDefault(m.MaxLines, DefaultMaxLines) }
func (m *Mailer) reserve() time.Duration { return orDefault(m.Reserve, DefaultReserve) }
func (m *Mailer) giveUpAfter() time.Duration {
	return orDefault(m.GiveUpAfter, DefaultGiveUpAfter)
}
