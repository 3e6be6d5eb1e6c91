// Package digestfn is the digest function: a schedule invokes it every minute, and it sends
// the digests that are due.
package digestfn

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/digest/dispatch"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// A digest's email, or its batch of deliveries, is claimed before it is sent and recorded as
// sent after. ClaimLease is how long a run that crashed while sending holds the claim: the
// next run sends it after that. SentMemory is how long "sent" is remembered: longer than a
// run retries a digest (dispatch.DefaultGiveUpAfter), so nothing sent is sent again.
const (
	ClaimLease = 5 * time.Minute
	SentMemory = 48 * time.Hour
)

// Handler runs the dispatcher once per scheduled event.
type Handler struct {
	Dispatcher *dispatch.Dispatcher
	Logger     *slog.Logger
}

// Handle implements the scheduled event's handler. A failed notification is logged and left
// for the next run; only a failure to list what is due fails the invocation.
func (h *Handler) Handle(ctx context.Context, _ events.EventBridgeEvent) error {
	rep, err := h.Dispatcher.Run(ctx)
	h.Logger.Info("digest run", "sent", rep.Sent, "skipped_empty", rep.Skipped, "failed", rep.Failed, "abandoned", rep.Abandoned, "busy", rep.Busy)
	if err != nil {
		h.Logger.Error("digest run", "error", err)
	}
	return err
}

// New wires the function to DynamoDB, SQS and SES.
func New(cfg lambdafn.Config, mailCfg lambdafn.MailConfig, clients lambdafn.Clients, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := cfg.ValidateDigest(); err != nil {
		return nil, fmt.Errorf("digest configuration: %w", err)
	}
	webhooks := dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable)
	return Over(mailCfg, Ports{
		Schedules:     dynamo.NewSchedules(clients.DynamoDB, cfg.WebhooksTable),
		Notifications: webhooks,
		Activity:      dynamo.NewActivity(clients.DynamoDB, cfg.ActivityTable),
		Queue:         cfg.JobQueue(clients.SQS),
		Mail:          sesmail.New(sesv2.NewFromConfig(clients.AWS), sesmail.Options{}),
		Claims:        dynamo.NewIdempotency(clients.DynamoDB, cfg.AttemptsTable, ClaimLease).KeepDoneFor(SentMemory),
	}, counter, logger)
}

// Ports are what the function runs on: the AWS adapters, or the embedded ones locally.
type Ports struct {
	Schedules     digest.ScheduleStore
	Notifications dispatch.NotificationReader
	Activity      digest.ActivityStore
	Queue         stagehooks.JobQueue
	Mail          mailbatch.Sender
	Claims        idempotency.Store
}

// Over builds the handler over ports.
func Over(mailCfg lambdafn.MailConfig, ports Ports, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := mailCfg.ValidateDigest(); err != nil {
		return nil, fmt.Errorf("digest configuration: %w", err)
	}
	links := mailbatch.Links{BaseURL: mailCfg.PublicAPIURL, Key: []byte(mailCfg.UnsubscribeKey)}
	if err := links.Validate(); err != nil {
		return nil, fmt.Errorf("digest configuration: %w", err)
	}
	return &Handler{
		Dispatcher: &dispatch.Dispatcher{
			Schedules: ports.Schedules, Notifications: ports.Notifications, Activity: ports.Activity, Queue: ports.Queue,
			Mail: ports.Mail, Claims: idempotency.PostClaims{Store: ports.Claims, Kind: "digest"},
			From: mailCfg.From, Links: links, Counter: counter, Logger: logger,
		},
		Logger: logger,
	}, nil
}
