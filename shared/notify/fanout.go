package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// SubscriptionFinder returns one tenant's notifications that cover one project. The tenant is
// part of the lookup's key: an event reaches only its own tenant's notifications.
type SubscriptionFinder interface {
	SubscriptionsForProject(ctx context.Context, tenant, project string) ([]notifications.Subscription, error)
}

// LineStore keeps email lines until the mailer sends them (mailbatch.Store's first method).
type LineStore interface {
	AddLines(ctx context.Context, lines []mailbatch.Line) (added int, err error)
}

// Channel names of item ids and counters.
const (
	channelWebhook = "webhook"
	channelSlack   = "slack"
	channelEmail   = "email"
)

// Fanout turns occurrences into items for every channel of every notification that subscribes
// to them.
type Fanout struct {
	Subscriptions SubscriptionFinder
	Queue         stagehooks.JobQueue
	Lines         LineStore
	Counter       telemetry.Counter
	Logger        *slog.Logger
}

// Sent counts what one Route produced.
type Sent struct {
	Webhooks, SlackPosts, EmailLines int
}

// Route produces the items of the occurrences of one inbound event: webhook deliveries and
// Slack posts on the delivery queue, email lines in the line store. An error means some may
// not have been produced and the event must be routed again; item ids are derived from the
// event, so the retry produces the same items and nothing twice that cannot be told apart.
func (f *Fanout) Route(ctx context.Context, occs []Occurrence) (Sent, error) {
	var jobs []delivery.Job
	var lines []mailbatch.Line
	subsOf := map[[2]string][]notifications.Subscription{}
	for _, o := range occs {
		scope := [2]string{o.TenantID, o.ProjectHash}
		subs, seen := subsOf[scope]
		if !seen {
			var err error
			subs, err = f.Subscriptions.SubscriptionsForProject(ctx, o.TenantID, o.ProjectHash)
			if err != nil {
				return Sent{}, fmt.Errorf("find notifications of tenant %s project %s: %w", o.TenantID, o.ProjectHash, err)
			}
			subsOf[scope] = subs
		}
		for _, sub := range subs {
			if sub.TenantID != o.TenantID {
				// A store that answered outside the tenant it was asked for is a bug; refusing
				// the event keeps it retried and visible instead of leaking it.
				return Sent{}, fmt.Errorf("notification %s of tenant %s returned for tenant %s: %w", sub.NotificationID, sub.TenantID, o.TenantID, stagehooks.ErrCrossTenant)
			}
			if !slices.Contains(sub.Events, o.Event) {
				continue
			}
			subJobs, err := itemsFor(o, sub)
			if err != nil {
				return Sent{}, err
			}
			jobs = append(jobs, subJobs...)
			lines = append(lines, linesFor(o, sub)...)
		}
	}
	var sent Sent
	for _, j := range jobs {
		if j.Kind == delivery.KindSlack {
			sent.SlackPosts++
		} else {
			sent.Webhooks++
		}
	}
	if len(jobs) > 0 {
		if err := f.Queue.Enqueue(ctx, jobs); err != nil {
			return Sent{}, fmt.Errorf("enqueue %d notification deliveries: %w", len(jobs), err)
		}
	}
	if len(lines) > 0 {
		added, err := f.Lines.AddLines(ctx, lines)
		if err != nil {
			return Sent{}, fmt.Errorf("store %d email lines: %w", len(lines), err)
		}
		sent.EmailLines = added
	}
	f.count(channelWebhook, sent.Webhooks)
	f.count(channelSlack, sent.SlackPosts)
	f.count(channelEmail, sent.EmailLines)
	return sent, nil
}

func (f *Fanout) count(channel string, n int) {
	if f.Counter == nil {
		return
	}
	for range n {
		f.Counter.Count(telemetry.NotificationItems, channel)
	}
}

// itemsFor returns the delivery jobs of one occurrence for one notification: one per webhook
// (ordered when the webhook is) and one per Slack channel.
func itemsFor(o Occurrence, sub notifications.Subscription) ([]delivery.Job, error) {
	var jobs []delivery.Job
	for _, id := range sub.WebhookIDs {
		uid := ItemID(o, sub.NotificationID, channelWebhook, id)
		body, err := o.Body(uid)
		if err != nil {
			return nil, fmt.Errorf("build %s for webhook %s of notification %s: %w", o.WebhookEventType, id, sub.NotificationID, err)
		}
		jobs = append(jobs, delivery.Job{ID: uid, TenantID: sub.TenantID, WebhookID: id, EventType: o.WebhookEventType, Payload: body,
			Ordered: sub.Ordered(id)})
	}
	if len(sub.SlackChannels) == 0 {
		return jobs, nil
	}
	msg, err := json.Marshal(SlackMessage(sub.Title, o))
	if err != nil {
		return nil, fmt.Errorf("build slack message of notification %s: %w", sub.NotificationID, err)
	}
	for _, ch := range sub.SlackChannels {
		jobs = append(jobs, delivery.Job{
			ID: ItemID(o, sub.NotificationID, channelSlack, ch), TenantID: sub.TenantID, Kind: delivery.KindSlack,
			WebhookID: ch, OwnerID: sub.OwnerID, EventType: string(o.Event), Payload: msg,
		})
	}
	return jobs, nil
}

// linesFor returns one email line per address of the notification.
func linesFor(o Occurrence, sub notifications.Subscription) []mailbatch.Line {
	lines := make([]mailbatch.Line, 0, len(sub.Emails))
	for _, addr := range sub.Emails {
		addr = strings.ToLower(addr)
		lines = append(lines, mailbatch.Line{
			ID: ItemID(o, sub.NotificationID, channelEmail, addr), TenantID: sub.TenantID, Recipient: addr,
			NotificationID: sub.NotificationID, NotificationTitle: sub.Title, ProjectHash: o.ProjectHash,
			EventType: string(o.Event), Text: o.Summary, OccurredAt: o.OccurredAt.UTC(),
		})
	}
	return lines
}
