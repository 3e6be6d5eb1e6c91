// Package dispatch sends digests when they are due: for each notification whose schedule is
// due, the activity of its projects over each due slot's period, as an email per recipient,
// a Slack message per channel and a signed digest_event per webhook, exactly once per
// notification, time of day and period.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/digest/render"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// NotificationReader reads one notification of a tenant.
type NotificationReader interface {
	GetNotification(ctx context.Context, tenant, id string) (notifications.Notification, error)
}

// DefaultLease is how long a run holds a notification's schedule: a crashed run's digests go
// out this much later.
const DefaultLease = 2 * time.Minute

// Dispatcher sends the digests that are due.
type Dispatcher struct {
	Schedules     digest.ScheduleStore
	Notifications NotificationReader
	Activity      digest.ActivityStore
	// Queue takes the digest_event webhook deliveries and the Slack posts, which go through
	// the signed delivery path with its retries and attempt log.
	Queue stagehooks.JobQueue
	// Mail sends the emails. Claims keep each email, and each digest's batch of deliveries,
	// from being sent twice: by a run that repeats a digest another channel of which failed,
	// or one that follows a run that crashed before recording its progress.
	Mail   mailbatch.Sender
	Claims delivery.PostClaims
	From   string
	Links  mailbatch.Links
	Lease  time.Duration
	// GiveUpAfter is how long past its due time a digest that keeps failing (an address SES
	// refuses) is tried again; then the run counts it abandoned and moves on. Default:
	// DefaultGiveUpAfter.
	GiveUpAfter time.Duration
	Counter     telemetry.Counter
	Logger      *slog.Logger
	Now         func() time.Time
}

// DefaultGiveUpAfter is the default Dispatcher.GiveUpAfter.
const DefaultGiveUpAfter = 6 * time.Hour

// Report counts what a run did.
type Report struct {
	// Sent counts digests (a notification's slot and period) sent; Skipped empty ones not
	// sent (skip_empty); Failed notifications left for the next run; Abandoned digests that
	// failed for longer than GiveUpAfter; Busy notifications another run holds.
	Sent, Skipped, Failed, Abandoned, Busy int
}

// Run sends every digest due now. A notification is leased before its digests are built, so
// runs that overlap (a schedule that fires twice) send each once; its schedule moves on only
// after every channel took the digest, and a run that crashes midway leaves it to the next
// run, which re-sends with the same ids: webhook receivers and the Slack path deduplicate
// those, and emails already sent are claimed as done.
func (d *Dispatcher) Run(ctx context.Context) (Report, error) {
	var rep Report
	now := d.now()
	for s, err := range d.Schedules.Due(ctx, now) {
		if err != nil {
			return rep, fmt.Errorf("list due digests: %w", err)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		d.one(ctx, s, now, &rep)
	}
	return rep, nil
}

func (d *Dispatcher) one(ctx context.Context, s digest.Schedule, now time.Time, rep *Report) {
	log := d.logger().With("tenant_id", s.TenantID, "notification_id", s.NotificationID)
	owner := uuid.NewString()
	s, ok, err := d.Schedules.Claim(ctx, s, owner, now, now.Add(d.lease()))
	if err != nil {
		log.Error("claim a digest schedule", "error", err)
		rep.Failed++
		return
	}
	if !ok {
		rep.Busy++
		return
	}
	n, err := d.Notifications.GetNotification(ctx, s.TenantID, s.NotificationID)
	if errors.Is(err, notifications.ErrNotFound) {
		if err := d.Schedules.DeleteSchedule(ctx, s.TenantID, s.NotificationID); err != nil {
			log.Error("delete the schedule of a deleted notification", "error", err)
		}
		return
	}
	if err != nil {
		log.Error("read a notification with due digests", "error", err)
		rep.Failed++
		d.finish(ctx, s, nil, owner, log)
		return
	}
	slots, err := digest.SlotsOf(n)
	if err != nil {
		log.Error("plan a notification's digests", "error", err)
		rep.Failed++
		d.finish(ctx, s, nil, owner, log)
		return
	}
	plan := digest.PlanSlots(n, slots, s, now)
	if len(plan.Slots) == 0 {
		// The notification no longer has digests.
		if err := d.Schedules.DeleteSchedule(ctx, s.TenantID, s.NotificationID); err != nil {
			log.Error("delete the schedule of a notification without digests", "error", err)
		}
		return
	}
	failed := false
	done := map[string]time.Time{} // slot key to the due time the run found it at
	for _, sl := range slots {
		next := plan.Slots[sl.Key]
		if next.After(now) {
			continue
		}
		// Only the latest due time is sent: after an outage, one digest of the period that
		// just ended, not one per missed day.
		due := next
		for {
			after := digest.NextAt(sl.Hour, sl.Minute, sl.Loc, due)
			if after.After(now) {
				break
			}
			due = after
		}
		sent, err := d.send(ctx, n, sl, due)
		switch {
		case err != nil && now.Sub(due) < d.giveUpAfter():
			log.Error("send a digest: it is tried again at the next run", "slot", sl.Key, "due", due, "error", err)
			failed = true
			continue
		case err != nil:
			log.Error("send a digest: failed for too long, given up", "slot", sl.Key, "due", due, "given_up_after", d.giveUpAfter(), "error", err)
			rep.Abandoned++
			d.count(telemetry.DigestsSent, "abandoned")
		case sent:
			rep.Sent++
			d.count(telemetry.DigestsSent, "sent")
		default:
			rep.Skipped++
			d.count(telemetry.DigestsSent, "skipped_empty")
		}
		done[sl.Key] = next
		plan.Slots[sl.Key] = digest.NextAt(sl.Hour, sl.Minute, sl.Loc, due)
	}
	if failed {
		rep.Failed++
	}
	plan.NextDue = digest.Earliest(plan.Slots)
	plan.Revision = s.Revision
	d.finish(ctx, plan, done, owner, log)
}

// finishTries bounds how often a run merges its progress into a schedule that keeps being
// edited under it.
const finishTries = 3

// finish records the run's progress (the slots it sent moved on, in plan) and gives the lease
// up. An edit of the notification during the run rewrote the schedule: the progress is merged
// into the edit's schedule, so neither a newly added time of day nor a sent digest is lost.
func (d *Dispatcher) finish(ctx context.Context, plan digest.Schedule, done map[string]time.Time, owner string, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	for range finishTries {
		ok, err := d.Schedules.Advance(ctx, plan, owner)
		if err != nil {
			log.Error("record a notification's digests as sent: the next run sends them again, with the same ids", "error", err)
			return
		}
		if ok {
			return
		}
		latest, found, err := d.Schedules.GetSchedule(ctx, plan.TenantID, plan.NotificationID)
		switch {
		case err != nil:
			log.Error("read a digest schedule edited during its run: the next run sends its digests again, with the same ids", "error", err)
			return
		case !found:
			return // the notification, or its digests, were deleted meanwhile
		case latest.LeaseOwner != owner:
			log.Error("record a notification's digests as sent: the lease ran out and another run holds it; it sends them again, with the same ids")
			return
		}
		plan = digest.Merge(latest, plan, done)
	}
	log.Error("record a notification's digests as sent: the schedule kept being edited; the next run sends them again, with the same ids")
}

// ItemID names what one digest (a notification's slot and due time) sends to one target: the
// same on every run, so a repeat is recognised downstream.
func ItemID(tenant, notificationID, slotKey string, due time.Time, channel, target string) string {
	name := strings.Join([]string{tenant, notificationID, slotKey, strconv.FormatInt(due.Unix(), 10), channel, target}, "\x00")
	return uuid.NewSHA1(itemNamespace, []byte(name)).String()
}

var itemNamespace = uuid.MustParse("4f1c2b7e-8d3a-4e6f-9b0c-1a2d3e4f5a6b")

// MaxEventBytes bounds the projects of one digest_event: under the attempt log's limit, so
// every part can be redelivered, and well under SQS's 1 MiB.
const MaxEventBytes = 200 << 10

// Parts splits a digest into events of whole projects, each about max bytes of project stats
// at most (a single larger project is a part by itself); one part, unnumbered, when it fits.
func Parts(p payloads.DigestPayload, max int) []payloads.DigestPayload {
	var parts []payloads.DigestPayload
	cur := payloads.DigestPayload{Period: p.Period, ProjectsStats: []payloads.ProjectStats{}}
	size := 0
	for _, ps := range p.ProjectsStats {
		b, _ := json.Marshal(ps)
		if size > 0 && size+len(b) > max {
			parts = append(parts, cur)
			cur = payloads.DigestPayload{Period: p.Period, ProjectsStats: []payloads.ProjectStats{}}
			size = 0
		}
		cur.ProjectsStats = append(cur.ProjectsStats, ps)
		size += len(b) + 1
	}
	parts = append(parts, cur)
	if len(parts) > 1 {
		for i := range parts {
			parts[i].Part = &payloads.DigestPart{Number: i + 1, Of: len(parts)}
		}
	}
	return parts
}

// send sends the digest of one slot due at due. sent is false for an empty digest that
// skip_empty holds back.
func (d *Dispatcher) send(ctx context.Context, n notifications.Notification, sl digest.Slot, due time.Time) (sent bool, err error) {
	p, err := digest.Summarise(ctx, d.Activity, n.TenantID, n.Projects, due.Add(-sl.Period()), due)
	if err != nil {
		return false, err
	}
	if sl.Digest.SkipEmpty && digest.Empty(p) {
		return false, nil
	}
	item := func(channel, target string) string { return ItemID(n.TenantID, n.ID, sl.Key, due, channel, target) }
	var jobs []delivery.Job
	parts := Parts(p, MaxEventBytes)
	for _, w := range n.Channels.Webhooks {
		for i, part := range parts {
			target := w.ID
			if len(parts) > 1 {
				target += "#" + strconv.Itoa(i+1)
			}
			uid := item("webhook", target)
			body, err := payloads.Marshal(uid, payloads.Digest, due, part)
			if err != nil {
				return false, fmt.Errorf("build digest_event: %w", err)
			}
			// An ordered webhook's parts ride the ordered queue, so they arrive in part order.
			jobs = append(jobs, delivery.Job{ID: uid, TenantID: n.TenantID, WebhookID: w.ID, EventType: payloads.Digest, Payload: body,
				Ordered: w.Ordered})
		}
	}
	if len(n.Channels.SlackChannels) > 0 {
		msg, err := json.Marshal(render.DigestSlackMessage(n.Title, p))
		if err != nil {
			return false, fmt.Errorf("build digest slack message: %w", err)
		}
		for _, ch := range n.Channels.SlackChannels {
			jobs = append(jobs, delivery.Job{
				ID: item("slack", ch), TenantID: n.TenantID, Kind: delivery.KindSlack, WebhookID: ch, OwnerID: n.OwnerID,
				EventType: payloads.Digest, Payload: msg,
			})
		}
	}
	var errs []error
	if len(jobs) > 0 {
		err := d.once(ctx, n.TenantID, item("deliveries", ""), func() error { return d.Queue.Enqueue(ctx, jobs) })
		if err != nil {
			errs = append(errs, fmt.Errorf("enqueue %d digest deliveries: %w", len(jobs), err))
		}
	}
	for _, addr := range n.Channels.Emails {
		addr = strings.ToLower(addr)
		id := "digest-" + item("email", addr)
		err := d.once(ctx, n.TenantID, id, func() error {
			e, err := render.DigestEmail(id, d.From, n.Title, n.TenantID, addr, n.ID, p, d.Links)
			if err != nil {
				return err
			}
			return d.Mail.Send(ctx, e)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("email %s: %w", addr, err))
		}
	}
	return true, errors.Join(errs...)
}

// once does what id names unless it was done: claimed before, recorded as done after, and
// released when it fails so that the next run tries it again.
func (d *Dispatcher) once(ctx context.Context, tenant, id string, do func() error) error {
	claimed, done, err := d.Claims.Claim(ctx, tenant, id)
	switch {
	case err != nil:
		return err
	case done:
		return nil
	case !claimed:
		return errors.New("another run is sending it")
	}
	if err := do(); err != nil {
		if rerr := d.Claims.Release(context.WithoutCancel(ctx), tenant, id); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return d.Claims.Posted(context.WithoutCancel(ctx), tenant, id)
}

func (d *Dispatcher) count(metric, dim string) {
	if d.Counter != nil {
		d.Counter.Count(metric, dim)
	}
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

func (d *Dispatcher) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Dispatcher) giveUpAfter() time.Duration {
	if d.GiveUpAfter <= 0 {
		return DefaultGiveUpAfter
	}
	return d.GiveUpAfter
}

func (d *Dispatcher) lease() time.Duration {
	if d.Lease <= 0 {
		return DefaultLease
	}
	return d.Lease
}
