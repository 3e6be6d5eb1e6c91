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
	// Mail sends the emails; EmailClaims keeps one from being sent twice when a run that sent
	// it crashed before recording its progress.
	Mail        mailbatch.Sender
	EmailClaims delivery.PostClaims
	From        string
	Links       mailbatch.Links
	Lease       time.Duration
	Counter     telemetry.Counter
	Logger      *slog.Logger
	Now         func() time.Time
}

// Report counts what a run did.
type Report struct {
	// Sent counts digests (a notification's slot and period) sent; Skipped empty ones not
	// sent (skip_empty); Failed notifications left for the next run; Busy notifications
	// another run holds.
	Sent, Skipped, Failed, Busy int
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
	ok, err := d.Schedules.Claim(ctx, s, owner, now, now.Add(d.lease()))
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
		d.release(ctx, s, owner, log)
		return
	}
	plan, err := digest.Plan(n, s, now)
	if err != nil {
		log.Error("plan a notification's digests", "error", err)
		rep.Failed++
		d.release(ctx, s, owner, log)
		return
	}
	if len(plan.Slots) == 0 {
		// The notification no longer has digests.
		if err := d.Schedules.DeleteSchedule(ctx, s.TenantID, s.NotificationID); err != nil {
			log.Error("delete the schedule of a notification without digests", "error", err)
		}
		return
	}
	slots, _ := digest.SlotsOf(n)
	failed := false
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
		if err != nil {
			log.Error("send a digest: it is tried again at the next run", "slot", sl.Key, "due", due, "error", err)
			failed = true
			continue
		}
		if sent {
			rep.Sent++
			d.count(telemetry.DigestsSent, "sent")
		} else {
			rep.Skipped++
			d.count(telemetry.DigestsSent, "skipped_empty")
		}
		plan.Slots[sl.Key] = digest.NextAt(sl.Hour, sl.Minute, sl.Loc, due)
	}
	if failed {
		rep.Failed++
	}
	plan.NextDue = digest.Earliest(plan.Slots)
	if ok, err := d.Schedules.Advance(context.WithoutCancel(ctx), plan, owner); err != nil || !ok {
		log.Error("record a notification's digests as sent: the next run sends them again, with the same ids", "lost_lease", !ok, "error", err)
	}
}

// release gives the lease up without moving the schedule: the next run tries again.
func (d *Dispatcher) release(ctx context.Context, s digest.Schedule, owner string, log *slog.Logger) {
	if _, err := d.Schedules.Advance(context.WithoutCancel(ctx), s, owner); err != nil {
		log.Error("release a digest schedule", "error", err)
	}
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
			jobs = append(jobs, delivery.Job{ID: uid, TenantID: n.TenantID, WebhookID: w.ID, EventType: payloads.Digest, Payload: body})
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
	if len(jobs) > 0 {
		if err := d.Queue.Enqueue(ctx, jobs); err != nil {
			return false, fmt.Errorf("enqueue %d digest deliveries: %w", len(jobs), err)
		}
	}
	var errs []error
	for _, addr := range n.Channels.Emails {
		addr = strings.ToLower(addr)
		if err := d.email(ctx, n, "digest-"+item("email", addr), addr, p); err != nil {
			errs = append(errs, fmt.Errorf("email %s: %w", addr, err))
		}
	}
	return true, errors.Join(errs...)
}

// email sends one recipient's digest once: claimed before it is sent, recorded as done after.
func (d *Dispatcher) email(ctx context.Context, n notifications.Notification, id, addr string, p payloads.DigestPayload) error {
	claimed, done, err := d.EmailClaims.Claim(ctx, n.TenantID, id)
	switch {
	case err != nil:
		return err
	case done:
		return nil
	case !claimed:
		return errors.New("another run is sending it")
	}
	e, err := render.DigestEmail(id, d.From, n.Title, n.TenantID, addr, n.ID, p, d.Links)
	if err == nil {
		err = d.Mail.Send(ctx, e)
	}
	if err != nil {
		if rerr := d.EmailClaims.Release(context.WithoutCancel(ctx), n.TenantID, id); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return d.EmailClaims.Posted(context.WithoutCancel(ctx), n.TenantID, id)
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

func (d *Dispatcher) lease() time.Duration {
	if d.Lease <= 0 {
		return DefaultLease
	}
	return d.Lease
}
