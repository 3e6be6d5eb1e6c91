// Package routerfn is the router function: EventBridge hands it each task stage transition and
// it enqueues one delivery job per stage webhook the transition fires. Its own package so that
// the router's bootstrap links what the router uses and nothing of the other functions.
package routerfn

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/events/stagetransition/parse"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Handler is the EventBridge-triggered router function.
type Handler struct {
	Router *stagehooks.Router
	// Inbound keeps what became of each event, for the Events page.
	Inbound inbound.Keeper
	Counter telemetry.Counter
	Logger  *slog.Logger
}

// Handle routes one stage-transition event. A rejected event returns nil: the same bytes would
// fail the same way on every retry, so it is logged and counted instead. Only our own failures
// return an error; EventBridge invokes the function asynchronously, so Lambda retries it twice
// and then parks the event in the failure queue of template.yaml, from which it can be replayed.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	log := h.Logger.With("event_id", ev.ID, "detail_type", ev.DetailType, "source", ev.Source)
	if ev.DetailType != stagetransition.DetailType {
		h.reject(ctx, log, ev, stagetransition.ReasonWrongDetailType, "detail-type is not "+stagetransition.DetailType)
		return nil
	}
	d, err := parse.Detail(ev.Detail)
	if err == nil {
		var n int
		n, err = h.Router.Route(ctx, d)
		if err == nil {
			h.Counter.Count(telemetry.EventsRouted, strconv.FormatBool(n > 0))
			log.Debug("stage transition routed", "project_hash", d.ProjectHash, "task_id", d.TaskID, "jobs", n)
			// A transition that fires a webhook event onto a stage without a webhook is what a
			// producer asks about; one that fires none (between review stages) is not kept.
			if triggers, _ := stagehooks.Triggers(d); n == 0 && len(triggers) > 0 {
				h.Inbound.Keep(ctx, inbound.Record{
					TenantID: d.TenantID, EventID: ev.ID, Router: inbound.RouterStageWebhooks, DetailType: ev.DetailType, Source: ev.Source,
					ProjectHash: d.ProjectHash, TaskID: d.TaskID, Outcome: inbound.NoMatch, Reason: inbound.ReasonNoWebhook,
					Detail: "no enabled webhook of the tenant on the stages it fires",
				})
			}
			return nil
		}
	}
	if reason := stagetransition.ReasonOf(err); reason != "" {
		h.reject(ctx, log, ev, reason, err.Error())
		return nil
	}
	log.Error("route stage transition", "error", err)
	return err
}

func (h *Handler) reject(ctx context.Context, log *slog.Logger, ev events.EventBridgeEvent, reason stagetransition.Reason, detail string) {
	log.Warn("stage transition event rejected", "reason", string(reason), "detail", detail)
	h.Counter.Count(telemetry.EventsRejected, string(reason))
	h.Inbound.Keep(ctx, inbound.Rejection(ev.ID, inbound.RouterStageWebhooks, ev.DetailType, ev.Source, ev.Detail, string(reason), detail))
}

// New wires the router function's handler to DynamoDB and SQS.
func New(cfg lambdafn.Config, clients lambdafn.Clients, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := cfg.ValidateRouter(); err != nil {
		return nil, fmt.Errorf("router configuration: %w", err)
	}
	return Over(cfg, Ports{
		Targets: dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable),
		Queue:   cfg.JobQueue(clients.SQS),
		Inbound: dynamo.NewInbound(clients.DynamoDB, cfg.AttemptsTable),
	}, counter, logger), nil
}

// Ports are the adapters the router runs on: DynamoDB and SQS on AWS, the embedded
// store and queue on one machine.
type Ports struct {
	Targets stagehooks.TargetFinder
	Queue   stagehooks.JobQueue
	Inbound inbound.Recorder
}

// Over builds the router handler over any adapters; every runtime builds it here so
// they cannot differ in anything but the adapters.
func Over(cfg lambdafn.Config, ports Ports, counter telemetry.Counter, logger *slog.Logger) *Handler {
	return &Handler{
		Router: &stagehooks.Router{
			Targets: stagehooks.NewCachedTargets(ports.Targets, cfg.ConfigCacheTTL),
			Queue:   ports.Queue,
			Counter: counter,
			Logger:  logger,
		},
		Inbound: inbound.Keeper{Recorder: ports.Inbound, Counter: counter, Logger: logger},
		Counter: counter,
		Logger:  logger,
	}
}
