package localscheduler

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Invoker runs a function (by logical id) with one event, as Lambda's asynchronous Invoke
// would. It must bound its own run time (the function's Timeout), since invocations run one at
// a time.
type Invoker func(ctx context.Context, function string, event []byte) error

// DefaultRetryDelays are the waits before each retry of a failed invocation: three retries
// within ~36 s. On AWS, EventBridge (rules) and Scheduler retry failing to hand the event to
// Lambda up to 185 times over 24 h, and Lambda retries a failing asynchronous invocation twice
// more (about 1 and 2 minutes later). Here the Invoker runs the function itself, so one short
// policy stands in for both: enough to ride out a transient fault on one machine, short enough
// that a broken function shows up in the log while someone is watching.
var DefaultRetryDelays = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}

// Options configures a Scheduler. The zero value is ready for real use.
type Options struct {
	// Now is the wall clock (default time.Now).
	Now func() time.Time
	// After waits (default time.After). Tests pass a fake clock's After with Now.
	After func(time.Duration) <-chan time.Time
	// Region and Account fill the event envelope and ARNs (default us-east-1 and
	// 123456789012, the account id of AWS's own sample events).
	Region, Account string
	// RetryDelays are the waits before each retry; nil means DefaultRetryDelays, an empty
	// non-nil slice means no retries.
	RetryDelays []time.Duration
	// NewID returns an event id (default: a random UUID, as EventBridge sends).
	NewID func() string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Fires keeps each schedule's last fire time across restarts; nil keeps none, and a rate
	// then starts one interval after each start.
	Fires FireLog
}

// FireLog keeps the last fire time of each schedule (by Schedule.Key), so that a rate keeps its
// phase across restarts: rate(1 day) in a process restarted every night still fires daily,
// where counting from each start would never reach a fire time.
type FireLog interface {
	LastFire(ctx context.Context, key string) (time.Time, bool, error)
	RecordFire(ctx context.Context, key string, at time.Time) error
}

// Scheduler fires schedules on one machine. Build it with New and call Run once.
type Scheduler struct {
	schedules []Schedule
	invoke    Invoker
	opts      Options
}

// New returns a Scheduler for the schedules (typically Load's result).
func New(schedules []Schedule, invoke Invoker, opts Options) *Scheduler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	if opts.RetryDelays == nil {
		opts.RetryDelays = DefaultRetryDelays
	}
	if opts.NewID == nil {
		opts.NewID = newUUID
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Scheduler{schedules: schedules, invoke: invoke, opts: opts}
}

const (
	// maxWait caps one wait on the clock. Go's timers run on the monotonic clock, which stops
	// while a laptop sleeps; re-reading the wall clock at least once a minute keeps a fire
	// time from being overslept by more than that.
	maxWait = time.Minute
	// lateLimit is how late a fire time may still fire. Past it the fire time counts as
	// missed (the process was down, the machine asleep, or an invocation ran long) and is not
	// caught up: EventBridge does not replay a rule's or schedule's past fire times either,
	// and a day of rate(1 minute) arriving at once would help nobody.
	lateLimit = time.Minute
)

// pending is one queued delivery: a fire time of a schedule, or a retry of one.
type pending struct {
	due      time.Time
	schedule int
	// attempt is 0 for a fire time and n for the n-th retry, which carries the event of the
	// first attempt (same id, as EventBridge retries deliver the same event).
	attempt int
	event   []byte
	// fireTime is the occurrence the delivery belongs to.
	fireTime time.Time
}

// Run fires each enabled schedule at its fire times until ctx ends. Deliveries run one at a
// time in fire-time order (ties in schedule order), so their order is deterministic. An
// invocation error is logged and retried per RetryDelays, never stopping the scheduler.
//
// Where a schedule starts: a cron or at() fires at its next fire time after Run starts. A
// rate fires first one interval after Run starts, as a rule's rate "starts when you create
// the rule"; a ScheduleV2 rate with a StartDate fires at StartDate + k × interval. (Scheduler
// starts a rate without StartDate "immediately" on creation; a restart of this process is not
// a creation, so it does not fire at once.) ScheduleV2 recurring schedules fire only between
// StartDate and EndDate.
func (s *Scheduler) Run(ctx context.Context) {
	log := s.opts.Logger
	now := s.opts.Now()
	var queue []pending
	for i, sc := range s.schedules {
		if !sc.Enabled {
			log.Info("schedule disabled: not firing", "function", sc.Function, "event", sc.Event, "expression", sc.Expression.String())
			continue
		}
		first, ok := s.resume(ctx, sc, now)
		if !ok {
			log.Warn("schedule has no fire time left: not firing", "function", sc.Function, "event", sc.Event, "expression", sc.Expression.String())
			continue
		}
		queue = append(queue, pending{due: first, schedule: i, fireTime: first})
		log.Info("schedule armed", "function", sc.Function, "event", sc.Event, "expression", sc.Expression.String(),
			"time_zone", sc.Location.String(), "next", first)
	}
	for ctx.Err() == nil {
		if len(queue) == 0 {
			<-ctx.Done()
			return
		}
		i := earliest(queue)
		p := queue[i]
		now = s.opts.Now()
		if now.Before(p.due) {
			select {
			case <-ctx.Done():
				return
			case <-s.opts.After(min(p.due.Sub(now), maxWait)):
			}
			continue
		}
		queue = append(queue[:i], queue[i+1:]...)
		sc := s.schedules[p.schedule]
		if p.attempt == 0 {
			s.recordFire(ctx, sc, p.due)
			if late := now.Sub(p.due); late > lateLimit {
				log.Warn("missed fire time: not caught up", "function", sc.Function, "event", sc.Event, "fire_time", p.due, "late", late.Round(time.Second).String())
			} else {
				ev, err := s.payload(sc, p.fireTime)
				if err != nil {
					log.Error("build scheduled event", "function", sc.Function, "event", sc.Event, "error", err)
				} else {
					p.event = ev
					if r, retry := s.deliver(ctx, sc, p); retry {
						queue = append(queue, r)
					}
				}
			}
			next, ok := s.after(sc, p.due, s.opts.Now().Add(-lateLimit))
			if following, fok := s.after(sc, p.due, p.due); fok && ok && following.Before(next) {
				log.Warn("missed fire times: not caught up", "function", sc.Function, "event", sc.Event,
					"from", following, "next", next)
			}
			if ok {
				queue = append(queue, pending{due: next, schedule: p.schedule, fireTime: next})
			}
			continue
		}
		if r, retry := s.deliver(ctx, sc, p); retry {
			queue = append(queue, r)
		}
	}
}

// earliest returns the index of the delivery due first; ties go to the earlier schedule, then
// to fire times before retries.
func earliest(q []pending) int {
	best := 0
	for i, p := range q[1:] {
		b := q[best]
		if p.due.Before(b.due) || p.due.Equal(b.due) && (p.schedule < b.schedule || p.schedule == b.schedule && p.attempt < b.attempt) {
			best = i + 1
		}
	}
	return best
}

// deliver makes one attempt and, when it fails and retries are left, returns the retry.
func (s *Scheduler) deliver(ctx context.Context, sc Schedule, p pending) (pending, bool) {
	log := s.opts.Logger.With("function", sc.Function, "event", sc.Event, "fire_time", p.fireTime, "attempt", p.attempt+1)
	err := s.invoke(ctx, sc.Function, p.event)
	if err == nil {
		log.Info("scheduled invocation")
		return pending{}, false
	}
	if ctx.Err() != nil {
		log.Warn("scheduled invocation cut short: shutting down", "error", err)
		return pending{}, false
	}
	if p.attempt >= len(s.opts.RetryDelays) {
		log.Error("scheduled invocation failed: giving up", "error", err)
		return pending{}, false
	}
	wait := s.opts.RetryDelays[p.attempt]
	log.Warn("scheduled invocation failed: retrying", "error", err, "retry_in", wait.String())
	p.attempt++
	p.due = s.opts.Now().Add(wait)
	return p, true
}

// resume returns a schedule's first fire time once Run starts at now: for a rate fired before,
// the next one in the phase of its last fire time (a fire time missed while the process was
// down by more than lateLimit is not caught up); otherwise first's.
func (s *Scheduler) resume(ctx context.Context, sc Schedule, now time.Time) (time.Time, bool) {
	if s.opts.Fires != nil && sc.Expression.Kind() == Rate {
		last, ok, err := s.opts.Fires.LastFire(ctx, sc.Key())
		if err != nil {
			s.opts.Logger.Warn("read last fire time: counting from now", "function", sc.Function, "event", sc.Event, "error", err)
		} else if ok && !last.After(now) {
			return s.after(sc, last, now.Add(-lateLimit))
		}
	}
	return s.first(sc, now)
}

func (s *Scheduler) recordFire(ctx context.Context, sc Schedule, at time.Time) {
	if s.opts.Fires == nil {
		return
	}
	if err := s.opts.Fires.RecordFire(context.WithoutCancel(ctx), sc.Key(), at); err != nil {
		s.opts.Logger.Warn("record fire time", "function", sc.Function, "event", sc.Event, "error", err)
	}
}

// first returns a schedule's first fire time once Run starts at now.
func (s *Scheduler) first(sc Schedule, now time.Time) (time.Time, bool) {
	e := sc.Expression
	switch {
	case e.Kind() == At:
		return sc.Next(now)
	case e.Kind() == Rate && !sc.Start.IsZero():
		if sc.Start.After(now) {
			return s.bounded(sc, sc.Start)
		}
		return s.after(sc, sc.Start, now)
	case e.Kind() == Rate:
		return s.bounded(sc, now.Truncate(time.Minute).Add(e.Interval()))
	case !sc.Start.IsZero() && sc.Start.After(now):
		t, ok := sc.Next(sc.Start.Add(-time.Nanosecond))
		if !ok {
			return time.Time{}, false
		}
		return s.bounded(sc, t)
	}
	return s.after(sc, now, now)
}

// after returns the fire time following prev that is later than floor: for a rate,
// prev + k × interval, which keeps the rate's phase across missed fire times; otherwise the
// expression's next fire time after the later of the two.
func (s *Scheduler) after(sc Schedule, prev, floor time.Time) (time.Time, bool) {
	e := sc.Expression
	if e.Kind() == At {
		return time.Time{}, false
	}
	if e.Kind() == Rate {
		next := prev.Add(e.Interval())
		if !next.After(floor) {
			k := floor.Sub(prev)/e.Interval() + 1
			next = prev.Add(k * e.Interval())
		}
		return s.bounded(sc, next)
	}
	from := prev
	if floor.After(from) {
		from = floor
	}
	t, ok := sc.Next(from)
	if !ok {
		return time.Time{}, false
	}
	return s.bounded(sc, t)
}

// bounded drops a recurring fire time past the schedule's EndDate.
func (s *Scheduler) bounded(sc Schedule, t time.Time) (time.Time, bool) {
	if !sc.End.IsZero() && t.After(sc.End) {
		return time.Time{}, false
	}
	return t, true
}

// payload is the event a fire time delivers: the Input, or the service's envelope (see the
// package documentation for both shapes and where the Scheduler one comes from), stamped with
// the fire time in UTC as both services stamp the scheduled time.
func (s *Scheduler) payload(sc Schedule, fireTime time.Time) ([]byte, error) {
	if sc.Input != nil {
		return sc.Input, nil
	}
	ev := events.CloudWatchEvent{
		Version:    "0",
		ID:         s.opts.NewID(),
		DetailType: "Scheduled Event",
		AccountID:  s.opts.Account,
		Time:       fireTime.UTC(),
		Region:     s.opts.Region,
	}
	switch sc.Type {
	case TypeScheduleV2:
		ev.Source = "aws.scheduler"
		ev.Resources = []string{fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule/%s/%s", s.opts.Region, s.opts.Account, sc.Group, sc.Name)}
		ev.Detail = json.RawMessage(`"{}"`)
	default:
		ev.Source = "aws.events"
		ev.Resources = []string{fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", s.opts.Region, s.opts.Account, sc.Name)}
		ev.Detail = json.RawMessage(`{}`)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("marshal scheduled event for %s %s: %w", sc.Function, sc.Event, err)
	}
	return b, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
