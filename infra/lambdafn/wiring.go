package lambdafn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/httpapi"
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

// NewRouter wires the router function's handler to DynamoDB and SQS.
func NewRouter(cfg Config, clients Clients, counter telemetry.Counter, logger *slog.Logger) (*RouterHandler, error) {
	if err := cfg.ValidateRouter(); err != nil {
		return nil, fmt.Errorf("router configuration: %w", err)
	}
	return RouterOver(cfg, RouterPorts{
		Targets: dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable),
		Queue:   sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL),
	}, counter, logger), nil
}

// RouterPorts are the adapters the router runs on: DynamoDB and SQS on AWS, the embedded
// store and queue on one machine.
type RouterPorts struct {
	Targets stagehooks.TargetFinder
	Queue   stagehooks.JobQueue
}

// RouterOver builds the router handler over any adapters; every runtime builds it here so
// they cannot differ in anything but the adapters.
func RouterOver(cfg Config, ports RouterPorts, counter telemetry.Counter, logger *slog.Logger) *RouterHandler {
	return &RouterHandler{
		Router: &stagehooks.Router{
			Targets: stagehooks.NewCachedTargets(ports.Targets, cfg.ConfigCacheTTL),
			Queue:   ports.Queue,
			Counter: counter,
			Logger:  logger,
		},
		Counter: counter,
		Logger:  logger,
	}
}

// NewDelivery wires the delivery function's handler to DynamoDB and SQS.
func NewDelivery(cfg Config, clients Clients, counter telemetry.Counter, logger *slog.Logger) (*DeliveryHandler, error) {
	if err := cfg.ValidateDelivery(); err != nil {
		return nil, fmt.Errorf("delivery configuration: %w", err)
	}
	return DeliveryOver(cfg, DeliveryPorts{
		Endpoints: dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable),
		Log:       dynamo.NewAttemptLog(clients.DynamoDB, cfg.AttemptsTable, cfg.AttemptRetention),
		Queue:     sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL),
	}, counter, logger)
}

// DeliveryPorts are the adapters the delivery function runs on.
type DeliveryPorts struct {
	Endpoints delivery.EndpointStore
	Log       delivery.AttemptLog
	Queue     delivery.RetryQueue
}

// DeliveryOver builds the delivery handler over any adapters.
func DeliveryOver(cfg Config, ports DeliveryPorts, counter telemetry.Counter, logger *slog.Logger) (*DeliveryHandler, error) {
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
	return &DeliveryHandler{Processor: p}, nil
}

// APIOption adds an optional part to the configuration API.
type APIOption func(*apiOptions)

type apiOptions struct {
	slack SlackConfig
}

// WithSlack gives the API a Slack app (LoadSlackConfig), for connecting Slack channels;
// without one, or with an unconfigured one, the Slack OAuth routes answer 503.
func WithSlack(c SlackConfig) APIOption {
	return func(o *apiOptions) { o.slack = c }
}

// NewAPI wires the configuration API function's handler to DynamoDB and SQS, trusting the
// JWT claims API Gateway's authorizer verified.
func NewAPI(cfg Config, clients Clients, logger *slog.Logger, opts ...APIOption) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	var o apiOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.ValidateAPI(); err != nil {
		return nil, fmt.Errorf("API configuration: %w", err)
	}
	// The delivery log's routes read the attempts table; ValidateAPI predates them.
	if err := require(EnvAttemptsTable, cfg.AttemptsTable); err != nil {
		return nil, fmt.Errorf("API configuration: %w", err)
	}
	webhooks := dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable)
	// Slack is called through the same address guard as webhook receivers; loopback opens
	// only where deliveries may reach it too (tests against a stand-in).
	flow, err := o.slack.Flow(cfg.AllowLoopback)
	if err != nil {
		return nil, fmt.Errorf("API configuration: %w", err)
	}
	var slackOAuth httpapi.SlackOAuth
	if flow != nil {
		slackOAuth = flow
	}
	api := httpapi.New(httpapi.Deps{
		Auth:          httpapi.ClaimsAuthenticator{TenantClaim: cfg.JWTTenantClaim},
		Webhooks:      webhooks,
		Endpoints:     webhooks,
		Log:           dynamo.NewAttemptLog(clients.DynamoDB, cfg.AttemptsTable, cfg.AttemptRetention),
		Notifications: webhooks,
		Slack:         dynamo.NewSlackChannels(clients.DynamoDB, cfg.WebhooksTable),
		SlackOAuth:    slackOAuth,
		Jobs:          sqsqueue.New(clients.SQS, cfg.DeliveryQueueURL, cfg.DeliveryDLQURL),
		// Shared by every instance, so a retried create that lands elsewhere still replays.
		Idempotency: dynamo.NewIdempotency(clients.DynamoDB, cfg.WebhooksTable, httpapi.IdempotencyTTL),
		Logger:      logger,
	})
	return HTTPHandler(api, httpapi.WithClaims), nil
}
