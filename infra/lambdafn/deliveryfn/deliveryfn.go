// Package deliveryfn is the delivery function: the delivery queue hands it batches of jobs and
// it makes their signed attempts, resends the retries and dead-letters the hopeless. Its own
// package so that the delivery bootstrap links what delivery uses and nothing of the others.
package deliveryfn

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Handler is the SQS-triggered delivery function.
type Handler struct {
	Processor *delivery.Processor
}

// Handle attempts a batch of delivery jobs and reports the ones to return to the queue.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// Lambda invokes the function as soon as its poller has received the batch (the batching
	// window is 1 s); the event carries no time of this receive, so the invocation stands in
	// for it, and delivery.Processor keeps a margin for the difference.
	received := time.Now()
	msgs := make([]delivery.Message, len(ev.Records))
	for i, r := range ev.Records {
		count, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
		if err != nil || count < 1 {
			count = 1
		}
		msgs[i] = delivery.Message{ID: r.MessageId, ReceiptHandle: r.ReceiptHandle, Body: []byte(r.Body), ReceiveCount: count, ReceivedAt: received}
	}
	failed := h.Processor.Process(ctx, msgs)
	resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(failed))}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}

// New wires the delivery function's handler to DynamoDB and SQS.
func New(cfg lambdafn.Config, clients lambdafn.Clients, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	if err := cfg.ValidateDelivery(); err != nil {
		return nil, fmt.Errorf("delivery configuration: %w", err)
	}
	return Over(cfg, Ports{
		Endpoints: dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable),
		Log:       dynamo.NewAttemptLog(clients.DynamoDB, cfg.AttemptsTable, cfg.AttemptRetention),
		Queue:     sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL),
	}, counter, logger)
}

// Ports are the adapters the delivery function runs on.
type Ports struct {
	Endpoints delivery.EndpointStore
	Log       delivery.AttemptLog
	Queue     delivery.RetryQueue
}

// Over builds the delivery handler over any adapters.
func Over(cfg lambdafn.Config, ports Ports, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	endpoints := delivery.NewCachedEndpoints(ports.Endpoints, cfg.ConfigCacheTTL)
	p := &delivery.Processor{
		Endpoints: endpoints,
		Disabler:  endpoints,
		Log:       ports.Log,
		Queue:     ports.Queue,
		Sender:    delivery.NewSender(outbound.NewClient(outbound.Options{AllowLoopback: cfg.AllowLoopback}), cfg.AttemptTimeout),
		Schedule:  cfg.RetrySchedule,
		Counter:   counter,
		Logger:    logger,
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Handler{Processor: p}, nil
}
