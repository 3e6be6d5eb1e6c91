package contract_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// TestLocalQueue runs the queue contract against the single-machine queue, on a fresh database
// file per subtest, opened the way the single-machine runtime opens its own.
func TestLocalQueue(t *testing.T) {
	contract.TestQueue(t, func(t *testing.T, visibility time.Duration) contract.QueueUnderTest {
		ctx := context.Background()
		db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		q, err := localqueue.New(ctx, db, "delivery", localqueue.Options{VisibilityTimeout: visibility, DeadLetter: "delivery-dlq"})
		if err != nil {
			t.Fatal(err)
		}
		dlq, err := localqueue.New(ctx, db, "delivery-dlq", localqueue.Options{VisibilityTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return contract.QueueUnderTest{Jobs: q, Retry: q, Source: q, DeadLetters: func(t *testing.T) []contract.DeadLetter {
			msgs, err := dlq.Receive(ctx, 10, time.Second)
			if err != nil {
				t.Fatalf("receive from the dead-letter queue: %v", err)
			}
			out := make([]contract.DeadLetter, len(msgs))
			for i, m := range msgs {
				out[i] = contract.DeadLetter{Body: m.Body, Attributes: m.Attributes}
			}
			return out
		}}
	})
}

// TestSQSQueue runs the queue contract against infra/sqsqueue on the SQS stand-in.
func TestSQSQueue(t *testing.T) {
	contract.TestQueue(t, func(t *testing.T, visibility time.Duration) contract.QueueUnderTest {
		b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: visibility})
		q := sqsqueue.New(b.Admin().SQS, b.QueueURL, b.DLQURL)
		return contract.QueueUnderTest{Jobs: q, Retry: q, Source: q, DeadLetters: func(t *testing.T) []contract.DeadLetter {
			msgs := b.DeadLetters(context.Background(), t, 1)
			out := make([]contract.DeadLetter, len(msgs))
			for i, m := range msgs {
				attrs := make(map[string]string, len(m.MessageAttributes))
				for k, v := range m.MessageAttributes {
					attrs[k] = aws.ToString(v.StringValue)
				}
				out[i] = contract.DeadLetter{Body: aws.ToString(m.Body), Attributes: attrs}
			}
			return out
		}}
	})
}

// TestLocalFIFOQueue runs the ordered-delivery contract against the single-machine queues: a
// FIFO queue with a FIFO dead-letter queue, and a standard queue, in one fresh database file
// per subtest.
func TestLocalFIFOQueue(t *testing.T) {
	contract.TestFIFOQueue(t, func(t *testing.T, visibility time.Duration) contract.FIFOQueuesUnderTest {
		ctx := context.Background()
		db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		open := func(name string, opts localqueue.Options) *localqueue.Queue {
			q, err := localqueue.New(ctx, db, name, opts)
			if err != nil {
				t.Fatal(err)
			}
			return q
		}
		fifo := open("ordered", localqueue.Options{FIFO: true, VisibilityTimeout: visibility, DeadLetter: "ordered-dlq"})
		dlq := open("ordered-dlq", localqueue.Options{FIFO: true, VisibilityTimeout: time.Hour})
		std := open("delivery", localqueue.Options{VisibilityTimeout: visibility, DeadLetter: "delivery-dlq"})
		return contract.FIFOQueuesUnderTest{
			FIFO: contract.QueueUnderTest{Jobs: fifo, Retry: fifo, Source: fifo, DeadLetters: func(t *testing.T) []contract.DeadLetter {
				msgs, err := dlq.Receive(ctx, 10, time.Second)
				if err != nil {
					t.Fatalf("receive from the dead-letter queue: %v", err)
				}
				if err := dlq.Delete(ctx, msgs); err != nil {
					t.Fatalf("delete from the dead-letter queue: %v", err)
				}
				out := make([]contract.DeadLetter, len(msgs))
				for i, m := range msgs {
					out[i] = contract.DeadLetter{Body: m.Body, Attributes: m.Attributes}
				}
				return out
			}},
			Standard: contract.QueueUnderTest{Jobs: std, Retry: std, Source: std},
			Routed:   contract.QueueUnderTest{Jobs: std.WithOrdered(fifo), Retry: std.WithOrdered(fifo), Source: std},
		}
	})
}

// TestSQSFIFOQueue runs the ordered-delivery contract against infra/sqsqueue on the SQS
// stand-in, over the FIFO queues awsfixture creates as template.yaml defines them.
func TestSQSFIFOQueue(t *testing.T) {
	contract.TestFIFOQueue(t, func(t *testing.T, visibility time.Duration) contract.FIFOQueuesUnderTest {
		b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: visibility})
		client := b.Admin().SQS
		fifo := sqsqueue.NewFIFO(client, b.OrderedQueueURL, b.OrderedDLQURL)
		std := sqsqueue.New(client, b.QueueURL, b.DLQURL)
		return contract.FIFOQueuesUnderTest{
			FIFO: contract.QueueUnderTest{Jobs: fifo, Retry: fifo, Source: fifo, DeadLetters: func(t *testing.T) []contract.DeadLetter {
				ctx := context.Background()
				out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
					QueueUrl: aws.String(b.OrderedDLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
					MessageAttributeNames: []string{"All"},
				})
				if err != nil {
					t.Fatalf("receive from the dead-letter queue: %v", err)
				}
				dead := make([]contract.DeadLetter, len(out.Messages))
				for i, m := range out.Messages {
					attrs := make(map[string]string, len(m.MessageAttributes))
					for k, v := range m.MessageAttributes {
						attrs[k] = aws.ToString(v.StringValue)
					}
					dead[i] = contract.DeadLetter{Body: aws.ToString(m.Body), Attributes: attrs}
					if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(b.OrderedDLQURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
						t.Fatalf("delete from the dead-letter queue: %v", err)
					}
				}
				return dead
			}},
			Standard: contract.QueueUnderTest{Jobs: std, Retry: std, Source: std},
			Routed:   contract.QueueUnderTest{Jobs: std.WithOrdered(fifo), Retry: std.WithOrdered(fifo), Source: std},
		}
	})
}
