// Package notifyfn is the notification router function: EventBridge hands it every inbound
// event a notification can react to (stage transitions, submitted and reviewed labels,
// assignments), and it produces the items of the tenant's notifications that subscribe: webhook
// deliveries and Slack posts on the delivery queue, and lines of the five-minute emails.
package notifyfn

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/events/activity"
	activityparse "github.com/heraldhq/herald/events/activity/parse"
	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/events/stagetransition/parse"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/notify"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Handler is the EventBridge-triggered notification router.
type Handler struct {
	Fanout *notify.Fanout
	// Activity keeps what digests summarise.
	Activity digest.ActivityStore
	// Inbound keeps what became of each event, for the Events page.
	Inbound inbound.Keeper
	Counter telemetry.Counter
	Logger  *slog.Logger
}

// Handle routes one inbound event. A rejected event returns nil (logged and counted: the same
// bytes would fail the same way on every retry); only our own failures return an error, which
// Lambda retries and then parks in the function's failure queue.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	log := h.Logger.With("event_id", ev.ID, "detail_type", ev.DetailType, "source", ev.Source)
	occs, acts, err := Interpret(ev.DetailType, ev.Detail)
	if reason := stagetransition.ReasonOf(err); reason != "" {
		log.Warn("notification event rejected", "reason", string(reason), "detail", err.Error())
		h.Counter.Count(telemetry.EventsRejected, string(reason))
		h.Inbound.Keep(ctx, inbound.Rejection(ev.ID, inbound.RouterNotifications, ev.DetailType, ev.Source, ev.Detail, string(reason), err.Error()))
		return nil
	}
	if err != nil {
		return err
	}
	// Activity first: an error here is retried with the whole event, and recording it again
	// is harmless.
	if err := h.Activity.RecordActivity(ctx, acts); err != nil {
		log.Error("record activity", "error", err)
		return err
	}
	sent, err := h.Fanout.Route(ctx, occs)
	if err != nil {
		log.Error("route notification event", "error", err)
		return err
	}
	items := sent.Webhooks + sent.SlackPosts + sent.EmailLines
	h.Counter.Count(telemetry.EventsRouted, strconv.FormatBool(items > 0))
	log.Info("notification event routed", "occurrences", len(occs), "webhooks", sent.Webhooks,
		"slack_posts", sent.SlackPosts, "email_lines", sent.EmailLines)
	return nil
}

// DetailTypes are the inbound events the function takes; the EventBridge rule of template.yaml
// names the same.
func DetailTypes() []string {
	return append([]string{stagetransition.DetailType}, activity.DetailTypes()...)
}

// Interpret parses one inbound detail and returns the triggers it fires and the activity it
// adds to digests (a label submitted or reviewed). Rejections are
// *stagetransition.InvalidError.
func Interpret(detailType string, detail []byte) ([]notify.Occurrence, []digest.Activity, error) {
	switch {
	case detailType == stagetransition.DetailType:
		d, err := parse.Detail(detail)
		if err != nil {
			return nil, nil, err
		}
		occs, err := notify.FromTransition(d)
		return occs, nil, err
	case slices.Contains(activity.DetailTypes(), detailType):
		v, err := activityparse.Detail(detailType, detail)
		if err != nil {
			return nil, nil, err
		}
		switch d := v.(type) {
		case activity.LabelSubmitted:
			return notify.FromLabelSubmitted(d), []digest.Activity{digest.FromLabelSubmitted(d)}, nil
		case activity.LabelReviewed:
			return notify.FromLabelReviewed(d), []digest.Activity{digest.FromLabelReviewed(d)}, nil
		case activity.TaskAssigned:
			return notify.FromTaskAssigned(d), nil, nil
		}
		return nil, nil, fmt.Errorf("parse %s: unexpected %T", detailType, v)
	}
	return nil, nil, &stagetransition.InvalidError{Reason: stagetransition.ReasonWrongDetailType,
		Detail: fmt.Sprintf("detail-type %q is not one of %v", detailType, DetailTypes())}
}

func New(cfg lambdafn.Config, clients lambdafn.Clients, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := cfg.ValidateNotify(); err != nil {
		return nil, fmt.Errorf("notify configuration: %w", err)
	}
	return Over(Ports{
		Subscriptions: dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable),
		Queue:         cfg.JobQueue(clients.SQS),
		Lines:         dynamo.NewMailLines(clients.DynamoDB, cfg.MailTable),
		Activity:      dynamo.NewActivity(clients.DynamoDB, cfg.ActivityTable),
		Inbound:       dynamo.NewInbound(clients.DynamoDB, cfg.AttemptsTable),
	}, counter, logger), nil
}

// Ports are the adapters the notification router runs on.
type Ports struct {
	Subscriptions notify.SubscriptionFinder
	Queue         stagehooks.JobQueue
	Lines         notify.LineStore
	Activity      digest.ActivityStore
	Inbound       inbound.Recorder
}

// Over builds the handler over any adapters; every runtime builds it here.
func Over(ports Ports, counter telemetry.Counter, logger *slog.Logger) *Handler {
	return &Handler{
		Fanout:   &notify.Fanout{Subscriptions: ports.Subscriptions, Queue: ports.Queue, Lines: ports.Lines, Counter: counter, Logger: logger},
		Activity: ports.Activity,
		Inbound:  inbound.Keeper{Recorder: ports.Inbound, Counter: counter, Logger: logger},
		Counter:  counter,
		Logger:   logger,
	}
}
