// Package mailerfn is the mailer function: a schedule invokes it every email interval, and it
// sends each recipient with pending notification lines one email covering them all.
package mailerfn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Handler is the scheduled mailer.
type Handler struct {
	Mailer *mailbatch.Mailer
	Logger *slog.Logger
}

// Handle runs one send window. Sends that fail leave their lines for the next window, so only
// a failure to read the recipients at all is an error (Lambda retries the invocation; the
// claims keep a retry from sending anything twice).
func (h *Handler) Handle(ctx context.Context, _ events.EventBridgeEvent) error {
	rep, err := h.Mailer.Run(ctx)
	h.Logger.Info("mailer run", "sent", rep.Sent, "failed", rep.Failed, "claimed_elsewhere", rep.ClaimedElsewhere, "stopped_at_deadline", rep.Stopped)
	if err != nil {
		h.Logger.Error("mailer run", "error", err)
	}
	return err
}

// New wires the mailer to DynamoDB and SES.
func New(cfg lambdafn.Config, mailCfg lambdafn.MailConfig, clients lambdafn.Clients, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := lambdafn.Require(lambdafn.EnvMailTable, cfg.MailTable); err != nil {
		return nil, fmt.Errorf("mailer configuration: %w", err)
	}
	return Over(mailCfg, Ports{
		Store:  dynamo.NewMailLines(clients.DynamoDB, cfg.MailTable),
		Sender: sesmail.New(sesv2.NewFromConfig(clients.AWS), sesmail.Options{}),
	}, counter, logger)
}

// Ports are the adapters the mailer runs on.
type Ports struct {
	Store  mailbatch.Store
	Sender mailbatch.Sender
}

// Over builds the mailer over any adapters; every runtime builds it here.
func Over(mailCfg lambdafn.MailConfig, ports Ports, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := mailCfg.ValidateMailer(); err != nil {
		return nil, fmt.Errorf("mailer configuration: %w", err)
	}
	m := &mailbatch.Mailer{
		Store: ports.Store, Sender: ports.Sender, From: mailCfg.From, Interval: mailCfg.Interval, Rate: mailCfg.Rate,
		Links:   mailbatch.Links{BaseURL: mailCfg.PublicAPIURL, Key: []byte(mailCfg.UnsubscribeKey)},
		Counter: counter, Logger: logger,
	}
	if err := m.Links.Validate(); err != nil {
		return nil, fmt.Errorf("mailer configuration: %w", err)
	}
	return &Handler{Mailer: m, Logger: logger}, nil
}
