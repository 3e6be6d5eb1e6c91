// Package awsfixture gives integration tests a complete AWS backend on the local stand-ins:
// the tables exactly as template.yaml defines them, a delivery queue with its dead-letter
// queue, clients that count every request they send, and the Lambda configuration that points
// at all of it.
package awsfixture

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/tests/faultproxy"
	"github.com/heraldhq/herald/tests/standin"
)

// Backend is one test's private set of tables and queues.
type Backend struct {
	WebhooksTable string
	AttemptsTable string
	MailTable     string
	ActivityTable string
	QueueURL      string
	QueueARN      string
	DLQURL        string
	// OrderedQueueURL is the FIFO queue of ordered webhooks' jobs, OrderedDLQURL its FIFO
	// dead-letter queue.
	OrderedQueueURL string
	OrderedQueueARN string
	OrderedDLQURL   string

	dynamoEndpoint string
	sqsEndpoint    string
	// events stands in for EventBridge: the embedded bus behind a test server, with one rule
	// that keeps every event Herald publishes on EventBusName.
	events         *busCapture
	eventsEndpoint string
	// faults, once InjectFaults is called, stand between the clients Clients builds and the
	// stand-ins; Admin's clients go direct.
	faults *Faults
	cfg    aws.Config
	admin  lambdafn.Clients
}

// Options shape the queue for a test.
type Options struct {
	// VisibilityTimeout of the delivery queue; short in tests so a crashed handler's
	// messages come back quickly. Default 30 s.
	VisibilityTimeout time.Duration
}

// New creates the tables from template.yaml and a fresh delivery queue with its DLQ, and
// removes them when the test ends.
func New(t testing.TB, opts Options) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := &Backend{
		dynamoEndpoint: standin.Endpoint(t, "dynamodb"),
		sqsEndpoint:    standin.Endpoint(t, "sqs"),
		cfg:            standin.AWSConfig(t),
	}
	b.events = &busCapture{}
	b.eventsEndpoint = b.events.serve(t)
	b.admin = b.Clients(nil)

	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatalf("load template.yaml: %v", err)
	}
	prefix := standin.UniqueName("herald")
	names, err := samtemplate.CreateTables(ctx, b.admin.DynamoDB, tmpl, func(id string) string { return prefix + "-" + id })
	if err != nil {
		t.Fatalf("create tables from template.yaml: %v", err)
	}
	b.WebhooksTable, b.AttemptsTable, b.MailTable = names["WebhooksTable"], names["AttemptsTable"], names["MailTable"]
	b.ActivityTable = names["ActivityTable"]
	if b.WebhooksTable == "" || b.AttemptsTable == "" {
		t.Fatalf("template.yaml defines tables %v, want WebhooksTable and AttemptsTable", names)
	}
	t.Cleanup(func() {
		for _, name := range names {
			_, _ = b.admin.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		}
	})

	vis := opts.VisibilityTimeout
	if vis <= 0 {
		vis = 30 * time.Second
	}
	b.DLQURL, _ = b.createQueue(ctx, t, prefix+"-dlq", nil)
	_, dlqARN := b.queueARN(ctx, t, b.DLQURL)
	b.QueueURL, b.QueueARN = b.createQueue(ctx, t, prefix+"-delivery", map[string]string{
		"VisibilityTimeout": strconv.Itoa(int(vis / time.Second)),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"16"}`, dlqARN),
	})
	// As template.yaml's DeliveryOrderedQueue and DeliveryOrderedDLQ.
	b.OrderedDLQURL, _ = b.createQueue(ctx, t, prefix+"-ordered-dlq.fifo", map[string]string{"FifoQueue": "true"})
	_, orderedDLQARN := b.queueARN(ctx, t, b.OrderedDLQURL)
	b.OrderedQueueURL, b.OrderedQueueARN = b.createQueue(ctx, t, prefix+"-ordered.fifo", map[string]string{
		"FifoQueue":         "true",
		"VisibilityTimeout": strconv.Itoa(int(vis / time.Second)),
		"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"1000"}`, orderedDLQARN),
	})
	return b
}

func (b *Backend) createQueue(ctx context.Context, t testing.TB, name string, attrs map[string]string) (url, arn string) {
	t.Helper()
	out, err := b.admin.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	url = aws.ToString(out.QueueUrl)
	t.Cleanup(func() {
		_, _ = b.admin.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
	})
	return b.queueARN(ctx, t, url)
}

func (b *Backend) queueARN(ctx context.Context, t testing.TB, url string) (string, string) {
	t.Helper()
	out, err := b.admin.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue ARN of %s: %v", url, err)
	}
	return url, out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// Clients returns clients for the stand-ins; with a counter, every HTTP request they send
// (retries included, as AWS bills them) is counted.
func (b *Backend) Clients(counter *RequestCounter) lambdafn.Clients {
	cfg := b.cfg.Copy()
	if counter != nil {
		cfg.APIOptions = append(cfg.APIOptions, counter.middleware)
	}
	dynamoAt, sqsAt := b.dynamoEndpoint, b.sqsEndpoint
	if b.faults != nil {
		dynamoAt, sqsAt = b.faults.DynamoDB.URL, b.faults.SQS.URL
	}
	clients := lambdafn.Clients{
		DynamoDB: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(dynamoAt) }),
		SQS:      sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsAt) }),
	}
	// The functions build other services' clients from AWS; here that is EventBridge only,
	// so the configuration's endpoint is its stand-in.
	clients.AWS = cfg.Copy()
	clients.AWS.BaseEndpoint = aws.String(b.eventsEndpoint)
	return clients
}

// Faults are the fault-injecting proxies in front of the stand-ins.
type Faults struct {
	DynamoDB, SQS *faultproxy.Proxy
}

// InjectFaults makes the clients Clients builds from now on go through proxies that fail a
// share rate of DynamoDB and SQS requests with throttling and internal errors.
func (b *Backend) InjectFaults(t testing.TB, rate float64, seed uint64) *Faults {
	t.Helper()
	b.faults = &Faults{
		DynamoDB: faultproxy.Start(t, b.dynamoEndpoint, rate, seed, "ProvisionedThroughputExceededException"),
		SQS:      faultproxy.Start(t, b.sqsEndpoint, rate, seed+1, "RequestThrottled"),
	}
	return b.faults
}

// InjectedFaults returns the proxies InjectFaults started, nil before.
func (b *Backend) InjectedFaults() *Faults { return b.faults }

// Admin returns uncounted clients for test setup and inspection.
func (b *Backend) Admin() lambdafn.Clients { return b.admin }

// Config is the Lambda configuration pointing at this backend, with loopback deliveries
// allowed (receivers in tests listen on 127.0.0.1) and the given retry schedule.
func (b *Backend) Config(t testing.TB, schedule string) lambdafn.Config {
	t.Helper()
	env := b.Env(schedule)
	cfg, err := lambdafn.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Env is the environment a function process needs to run against this backend.
func (b *Backend) Env(schedule string) map[string]string {
	if schedule == "" {
		schedule = delivery.DefaultSchedule
	}
	return map[string]string{
		lambdafn.EnvWebhooksTable:           b.WebhooksTable,
		lambdafn.EnvAttemptsTable:           b.AttemptsTable,
		lambdafn.EnvActivityTable:           b.ActivityTable,
		lambdafn.EnvDeliveryQueueURL:        b.QueueURL,
		lambdafn.EnvDeliveryDLQURL:          b.DLQURL,
		lambdafn.EnvOrderedDeliveryQueueURL: b.OrderedQueueURL,
		lambdafn.EnvOrderedDeliveryDLQURL:   b.OrderedDLQURL,
		lambdafn.EnvRetrySchedule:           schedule,
		lambdafn.EnvMailTable:               b.MailTable,
		lambdafn.EnvEventBusName:            EventBusName,
		"AWS_ENDPOINT_URL_EVENTBRIDGE":      b.eventsEndpoint,
		lambdafn.EnvAllowLoopback:           "true",
		"AWS_ENDPOINT_URL_DYNAMODB":         b.dynamoEndpoint,
		"AWS_ENDPOINT_URL_SQS":              b.sqsEndpoint,
		"AWS_REGION":                        standin.Region,
		"AWS_ACCESS_KEY_ID":                 "test",
		"AWS_SECRET_ACCESS_KEY":             "test",
	}
}

// DeadLetters receives what the DLQ holds (up to n messages), with their attributes.
func (b *Backend) DeadLetters(ctx context.Context, t testing.TB, n int) []sqstypes.Message {
	t.Helper()
	var got []sqstypes.Message
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		out, err := b.admin.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(b.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}, VisibilityTimeout: 300,
		})
		if err != nil {
			t.Fatalf("receive from DLQ: %v", err)
		}
		got = append(got, out.Messages...)
	}
	return got
}

// RequestCounter counts AWS requests by service and operation.
type RequestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// NewRequestCounter returns an empty counter.
func NewRequestCounter() *RequestCounter { return &RequestCounter{counts: map[string]int{}} }

func (c *RequestCounter) middleware(stack *middleware.Stack) error {
	// Finalize runs once per HTTP attempt, after the retryer, so SDK retries count too.
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("HeraldRequestCounter",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			key := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
			c.mu.Lock()
			c.counts[key]++
			c.mu.Unlock()
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// APIOption counts the requests of any AWS SDK client it is added to (its APIOptions), such as
// an SES client of the stand-in.
func (c *RequestCounter) APIOption() func(*middleware.Stack) error { return c.middleware }

// Total returns the number of requests counted.
func (c *RequestCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Get returns the count of one operation, named as String names it ("DynamoDB.UpdateItem").
func (c *RequestCounter) Get(operation string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[operation]
}

// String lists the counts by operation, for test logs.
func (c *RequestCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, v := range c.counts {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
