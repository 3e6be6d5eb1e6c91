// Package deliveryfn is the delivery function: the delivery queue hands it batches of jobs and
// it makes their signed attempts, resends the retries and dead-letters the hopeless. Its own
// package so that the delivery bootstrap links what delivery uses and nothing of the others.
package deliveryfn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventbus"
	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/slackoauth"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/notify"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Handler is the SQS-triggered delivery function, fed by the standard delivery queue and by
// the FIFO queue of ordered webhooks.
type Handler struct {
	Processor *delivery.Processor
	// Ordered is Processor over the FIFO queue: the messages it keeps for a retry, and its
	// dead letters, go back to that queue. nil when the function has no FIFO queue.
	Ordered *delivery.Processor
	// orderedQueue is the FIFO queue's name, which ends the ARN its batches come from.
	orderedQueue string
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
	proc := h.Processor
	if h.Ordered != nil && len(ev.Records) > 0 && queueName(ev.Records[0].EventSourceARN) == h.orderedQueue {
		// An event source mapping reads one queue: a batch comes whole from one or the other.
		proc = h.Ordered
	}
	failed := proc.Process(ctx, msgs)
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
	return Over(cfg, AWSPorts(cfg, clients), counter, logger)
}

// AWSPorts are the delivery function's adapters over DynamoDB, SQS and EventBridge, as New
// wires them.
func AWSPorts(cfg lambdafn.Config, clients lambdafn.Clients) Ports {
	webhooks := dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable)
	return Ports{
		Endpoints:     webhooks,
		Health:        webhooks,
		Notifications: webhooks,
		Lines:         dynamo.NewMailLines(clients.DynamoDB, cfg.MailTable),
		Events:        eventbus.New(eventbridge.NewFromConfig(clients.AWS), cfg.EventBusName),
		// Slots live beside the attempts, in the table the function writes anyway, whose TTL
		// removes the item of a webhook that went quiet.
		Limiter:       dynamo.NewRateLimiter(clients.DynamoDB, cfg.AttemptsTable),
		SlackChannels: dynamo.NewSlackChannels(clients.DynamoDB, cfg.WebhooksTable),
		Log:           dynamo.NewAttemptLog(clients.DynamoDB, cfg.AttemptsTable, cfg.AttemptRetention),
		// Claims live beside the attempts they guard: the table whose items the function
		// writes anyway, with the TTL that ends a lapsed claim.
		PostClaims:   idempotency.PostClaims{Store: dynamo.NewIdempotency(clients.DynamoDB, cfg.AttemptsTable, SlackPostLease)},
		Queue:        sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL),
		OrderedQueue: orderedQueue(cfg, clients),
	}
}

// Ports are the adapters the delivery function runs on.
type Ports struct {
	Endpoints     delivery.EndpointStore
	SlackChannels notify.ChannelStore
	Log           AttemptLog
	PostClaims    delivery.PostClaims
	Queue         delivery.RetryQueue
	// OrderedQueue is the FIFO queue of ordered webhooks' jobs (cfg.OrderedDeliveryQueueURL);
	// nil when there is none.
	OrderedQueue delivery.RetryQueue
	// Health keeps webhooks' failure streaks; the owner of one it disables is told through
	// Events, and by email (Lines) to its notification's addresses (Notifications).
	Health        delivery.HealthStore
	Notifications notify.NotificationReader
	Lines         notify.LineStore
	Events        notify.EventPublisher
	// Limiter spaces the attempts of rate-limited webhooks; without it they are not limited.
	Limiter delivery.RateLimiter
	// SlackURLPrefix is where Slack's incoming webhooks live; Slack's own when empty, a
	// stand-in's in tests.
	SlackURLPrefix string
}

// SlackPostLease is how long a Slack post's claim outlives a poster that crashed mid-post: a
// post takes at most slackoauth's 10 s, and the attempt log, which stops later repeats, is
// written within the batch.
const SlackPostLease = 2 * time.Minute

// AttemptLog records attempts and reads a delivery's, which keeps Slack posts from repeating.
type AttemptLog interface {
	delivery.AttemptLog
	delivery.DeliveryHistory
}

// Over builds the delivery handler over any adapters.
func Over(cfg lambdafn.Config, ports Ports, counter telemetry.Counter, logger *slog.Logger) (*Handler, error) {
	client := outbound.NewClient(outbound.Options{AllowLoopback: cfg.AllowLoopback})
	poster, err := slackoauth.NewPoster(client, ports.SlackURLPrefix)
	if err != nil {
		return nil, err
	}
	endpoints := delivery.NewCachedEndpoints(delivery.EndpointsByKind{
		delivery.KindWebhook: ports.Endpoints,
		delivery.KindSlack:   notify.SlackEndpoints{Channels: ports.SlackChannels},
	}, cfg.ConfigCacheTTL)
	p := &delivery.Processor{
		Endpoints: endpoints,
		Disabler:  endpoints,
		Log:       ports.Log,
		Queue:     ports.Queue,
		Sender:    delivery.NewSender(client, cfg.AttemptTimeout),
		Slack:     poster,
		History:   ports.Log,
		Claims:    ports.PostClaims,
		Limiter:   ports.Limiter,
		Schedule:  cfg.RetrySchedule,
		Counter:   counter,
		Logger:    logger,
	}
	if ports.Health != nil {
		if ports.Events == nil || ports.Notifications == nil || ports.Lines == nil {
			return nil, errors.New("delivery function: endpoint health needs an event bus, the notifications and the mail lines to tell owners")
		}
		p.Health, p.HealthPolicy = endpoints.Health(ports.Health), cfg.EndpointHealth
		p.Alerter = notify.DisabledAlerts{Events: ports.Events, Notifications: ports.Notifications, Lines: ports.Lines}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{Processor: p}
	if ports.OrderedQueue != nil {
		ordered := *p
		ordered.Queue = ports.OrderedQueue
		h.Ordered, h.orderedQueue = &ordered, queueName(cfg.OrderedDeliveryQueueURL)
	}
	return h, nil
}

func orderedQueue(cfg lambdafn.Config, clients lambdafn.Clients) delivery.RetryQueue {
	if cfg.OrderedDeliveryQueueURL == "" {
		return nil
	}
	return cfg.OrderedQueue(clients.SQS)
}

// queueName is the last part of a queue's URL or ARN, its name: what the two have in common.
func queueName(urlOrARN string) string {
	return urlOrARN[strings.LastIndexAny(urlOrARN, "/:")+1:]
}
