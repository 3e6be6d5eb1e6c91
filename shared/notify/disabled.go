package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
)

// EventPublisher puts one of Herald's own events on the event bus.
type EventPublisher interface {
	Publish(ctx context.Context, detailType string, detail []byte) error
}

// NotificationReader reads one notification of a tenant.
type NotificationReader interface {
	GetNotification(ctx context.Context, tenant, id string) (notifications.Notification, error)
}

// DisabledAlerts tells a webhook's owner that the delivery path disabled it for failing: an
// operational event on the bus for the platform, and for a notification's webhook a line in
// the next email to each of the notification's addresses, through the five-minute batching
// every notification email takes.
type DisabledAlerts struct {
	Events        EventPublisher
	Notifications NotificationReader
	Lines         LineStore
}

var _ delivery.DisabledAlerter = DisabledAlerts{}

// EventTypeEndpointDisabled is the event type of the email line.
const EventTypeEndpointDisabled = "endpoint_disabled"

// WebhookDisabled implements delivery.DisabledAlerter. It tries both channels and reports
// what failed of either.
func (a DisabledAlerts) WebhookDisabled(ctx context.Context, w delivery.DisabledWebhook) error {
	detail, err := json.Marshal(operational.EndpointDisabled{
		TenantID: w.TenantID, WebhookID: w.WebhookID, NotificationID: w.NotificationID, OwnerID: w.OwnerID,
		EndpointHost: hostOf(w.URL), Reason: w.Reason, FailingSince: w.FailingSince.UTC(), Failures: w.Failures,
		DisabledAt: w.DisabledAt.UTC(),
	})
	if err != nil {
		return fmt.Errorf("marshal endpoint-disabled event of webhook %s: %w", w.WebhookID, err)
	}
	var errs []error
	if err := a.Events.Publish(ctx, operational.DetailTypeEndpointDisabled, detail); err != nil {
		errs = append(errs, fmt.Errorf("publish endpoint-disabled event of webhook %s: %w", w.WebhookID, err))
	}
	switch {
	case w.NotificationID != "":
		errs = append(errs, a.mail(ctx, w))
	case w.AlertEmail != "":
		errs = append(errs, a.addLines(ctx, w, []string{w.AlertEmail}, "", StageWebhooksTitle))
	}
	return errors.Join(errs...)
}

// StageWebhooksTitle heads the lines about stage webhooks in an email; they belong to no
// notification, so the email offers no unsubscribe link for them.
const StageWebhooksTitle = "Stage webhooks"

func (a DisabledAlerts) mail(ctx context.Context, w delivery.DisabledWebhook) error {
	n, err := a.Notifications.GetNotification(ctx, w.TenantID, w.NotificationID)
	if errors.Is(err, notifications.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read notification %s of disabled webhook %s: %w", w.NotificationID, w.WebhookID, err)
	}
	return a.addLines(ctx, w, n.Channels.Emails, n.ID, n.Title)
}

// addLines puts one line about w's disabling in the next email to each address.
func (a DisabledAlerts) addLines(ctx context.Context, w delivery.DisabledWebhook, addresses []string, notificationID, title string) error {
	text := fmt.Sprintf("Webhook %s to %s was disabled: %s. Fix the receiver, enable the webhook again, then recover its deliveries.",
		w.WebhookID, hostOf(w.URL), w.Reason)
	lines := make([]mailbatch.Line, 0, len(addresses))
	for _, addr := range addresses {
		addr = strings.ToLower(addr)
		lines = append(lines, mailbatch.Line{
			// One line per streak: the same disable reported twice is mailed once.
			ID:       "disabled:" + w.WebhookID + ":" + w.FailingSince.UTC().Format("20060102T150405.000000000"),
			TenantID: w.TenantID, Recipient: addr, NotificationID: notificationID, NotificationTitle: title,
			EventType: EventTypeEndpointDisabled, Text: text, OccurredAt: w.DisabledAt.UTC(),
		})
	}
	if len(lines) == 0 {
		return nil
	}
	if _, err := a.Lines.AddLines(ctx, lines); err != nil {
		return fmt.Errorf("mail the owners of disabled webhook %s: %w", w.WebhookID, err)
	}
	return nil
}

// hostOf names a receiver without its URL's path and query, which may hold a token.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	return u.Host
}
