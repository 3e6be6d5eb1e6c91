package lambdafn

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/heraldhq/herald/infra/sqsqueue"
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
	// AWS is the configuration the clients were built from, for a function that needs a
	// client of another service (the mailer's SES): building it here would link that
	// service's SDK into every function.
	AWS aws.Config
}

// NewClients builds the clients from one SDK configuration.
func NewClients(awsCfg aws.Config) Clients {
	return Clients{DynamoDB: dynamodb.NewFromConfig(awsCfg), SQS: sqs.NewFromConfig(awsCfg), AWS: awsCfg}
}

// JobQueue is the delivery queue jobs are sent to: the standard queue, which routes ordered
// webhooks' jobs to the FIFO queue when the function has one.
func (c Config) JobQueue(client *sqs.Client) *sqsqueue.Queue {
	q := sqsqueue.New(client, c.DeliveryQueueURL, c.DeliveryDLQURL)
	if c.OrderedDeliveryQueueURL != "" {
		q = q.WithOrdered(c.OrderedQueue(client))
	}
	return q
}

// OrderedQueue is the FIFO queue of ordered webhooks' jobs and its FIFO dead-letter queue.
func (c Config) OrderedQueue(client *sqs.Client) *sqsqueue.Queue {
	return sqsqueue.NewFIFO(client, c.OrderedDeliveryQueueURL, c.OrderedDeliveryDLQURL)
}
