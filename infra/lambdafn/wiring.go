package lambdafn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/outbound"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// LoadAWS loads the SDK configuration from the function's environment. Endpoint overrides for
// local stand-ins come from the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Clients are the AWS service clients a function uses, built once per execution environment.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
}

// NewClients builds the clients from one SDK configuration.
func NewClients(awsCfg aws.Config) Clients {
	return Clients{DynamoDB: dynamodb.NewFromConfig(awsCfg), SQS: sqs.NewFromConfig(awsCfg)}
}

// NewRouter wires the router function's handler.
func NewRouter(cfg Config, clients Clients, counter telemetry.Counter, logger *slog.Logger) (*RouterHandler, error) {
	if err := cfg.ValidateRouter(); err != nil {
		return nil, fmt.Errorf("router configuration: %w", err)
	}
	store := dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable)
	queue := sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL)
	return &RouterHandler{
		Router: &stagehooks.Router{
			Targets: stagehooks.NewCachedTargets(store, cfg.ConfigCacheTTL),
			Queue:   queue,
			Counter: counter,
			Logger:  logger,
		},
		Counter: counter,
		Logger:  logger,
	}, nil
}

// NewDelivery wires the delivery function's handler.
func NewDelivery(cfg Config, clients Clients, counter telemetry.Counter, logger *slog.Logger) (*DeliveryHandler, error) {
	if err := cfg.ValidateDelivery(); err != nil {
		return nil, fmt.Errorf("delivery configuration: %w", err)
	}
	db := clients.DynamoDB
	endpoints := delivery.NewCachedEndpoints(dynamo.NewWebhookStore(db, cfg.WebhooksTable), cfg.ConfigCacheTTL)
	p := &delivery.Processor{
		Endpoints: endpoints,
		Disabler:  endpoints,
		Log:       dynamo.NewAttemptLog(db, cfg.AttemptsTable, cfg.AttemptRetention),
		Queue:     sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL),
		Sender:    delivery.NewSender(outbound.NewClient(outbound.Options{AllowLoopback: cfg.AllowLoopback}), cfg.AttemptTimeout),
		Schedule:  cfg.RetrySchedule,
		Counter:   counter,
		Logger:    logger,
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &DeliveryHandler{Processor: p}, nil
}
