// Package sqsqueue carries delivery jobs on Amazon SQS: the router enqueues them, the delivery
// function sends each retry as a new (delayed) message, parks early ones with
// ChangeMessageVisibility, and puts the hopeless ones in the dead-letter queue with their
// reason.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// Message attributes set on dead-lettered jobs, so an operator reading the DLQ sees why.
const (
	AttrReason     = "herald-reason"
	AttrErrorClass = "herald-error-class"
)

// batchLimit is SQS's maximum entries per batch call.
const batchLimit = 10

// maxBatchBytes is SQS's limit on one message and on the bodies of one batch, 1 MiB.
const maxBatchBytes = 1 << 20

// maxBatchRounds bounds how often failed batch entries are retried within one call; SQS
// reports throttling and internal errors per entry, and those usually clear within a second.
const maxBatchRounds = 4

// Queue is the delivery queue and its dead-letter queue.
type Queue struct {
	client *sqs.Client
	url    string
	dlqURL string
}

var (
	_ stagehooks.JobQueue = (*Queue)(nil)
	_ delivery.RetryQueue = (*Queue)(nil)
)

// New returns a Queue over the delivery queue url and its dead-letter queue dlqURL.
func New(client *sqs.Client, url, dlqURL string) *Queue {
	return &Queue{client: client, url: url, dlqURL: dlqURL}
}

// Enqueue implements stagehooks.JobQueue with SendMessageBatch in chunks of ten. Entries SQS
// rejects for a transient reason are sent again; an error means some jobs are not queued and
// the caller must retry the whole transition (receivers deduplicate on the stable job id).
func (q *Queue) Enqueue(ctx context.Context, jobs []delivery.Job) error {
	resends := make([]delivery.Resend, len(jobs))
	for i, job := range jobs {
		resends[i] = delivery.Resend{Job: job}
	}
	return q.Resend(ctx, resends)
}

// Resend implements delivery.RetryQueue: new messages, each delayed by its Delay, with
// SendMessageBatch in batches of at most ten messages and maxBatchBytes. SQS refuses a delay
// above 15 minutes, and so does this.
func (q *Queue) Resend(ctx context.Context, jobs []delivery.Resend) error {
	var entries []types.SendMessageBatchRequestEntry
	size := 0
	for _, r := range jobs {
		if r.Delay < 0 || r.Delay > delivery.MaxDelay {
			return fmt.Errorf("send delivery job %s: delay %s is not within SQS's 0 to %s", r.Job.ID, r.Delay, delivery.MaxDelay)
		}
		body, err := json.Marshal(r.Job)
		if err != nil {
			return fmt.Errorf("encode delivery job %s: %w", r.Job.ID, err)
		}
		if len(body) > maxBatchBytes {
			return fmt.Errorf("send delivery job %s: %d bytes, over SQS's message limit of %d", r.Job.ID, len(body), maxBatchBytes)
		}
		if len(entries) == batchLimit || size+len(body) > maxBatchBytes {
			if err := q.sendBatch(ctx, entries); err != nil {
				return err
			}
			entries, size = nil, 0
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(len(entries))), MessageBody: aws.String(string(body)), DelaySeconds: int32(r.Delay / time.Second),
		})
		size += len(body)
	}
	if len(entries) == 0 {
		return nil
	}
	return q.sendBatch(ctx, entries)
}

func (q *Queue) sendBatch(ctx context.Context, entries []types.SendMessageBatchRequestEntry) error {
	for round := 0; ; round++ {
		if err := wait(ctx, round); err != nil {
			return err
		}
		out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			return fmt.Errorf("send %d delivery jobs: %w", len(entries), err)
		}
		if len(out.Failed) == 0 {
			return nil
		}
		byID := make(map[string]types.SendMessageBatchRequestEntry, len(entries))
		for _, e := range entries {
			byID[*e.Id] = e
		}
		entries = entries[:0]
		var permanent []string
		for _, f := range out.Failed {
			if f.SenderFault {
				permanent = append(permanent, fmt.Sprintf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
				continue
			}
			entries = append(entries, byID[aws.ToString(f.Id)])
		}
		if len(permanent) > 0 {
			return fmt.Errorf("send delivery jobs: SQS refused %d entries: %v", len(permanent), permanent)
		}
		if round+1 == maxBatchRounds {
			return fmt.Errorf("send delivery jobs: %d entries still failing after %d rounds", len(entries), maxBatchRounds)
		}
	}
}

// RetryLater implements delivery.RetryQueue with ChangeMessageVisibilityBatch. SQS refuses an
// entry whose wait would keep the message invisible past 12 h from its receive; such an entry
// is reported failed, and the message comes back after the queue's visibility timeout.
func (q *Queue) RetryLater(ctx context.Context, retries []delivery.Retry) ([]string, error) {
	var failedIDs []string
	var errs []error
	for start := 0; start < len(retries); start += batchLimit {
		chunk := retries[start:min(start+batchLimit, len(retries))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, r := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				ReceiptHandle:     aws.String(r.Message.ReceiptHandle),
				VisibilityTimeout: visibilitySeconds(r.Wait),
			}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("reschedule %d deliveries: %w", len(chunk), err))
			for _, r := range chunk {
				failedIDs = append(failedIDs, r.Message.ID)
			}
			continue
		}
		for _, f := range out.Failed {
			i, _ := strconv.Atoi(aws.ToString(f.Id))
			if i >= 0 && i < len(chunk) {
				failedIDs = append(failedIDs, chunk[i].Message.ID)
			}
			errs = append(errs, fmt.Errorf("reschedule delivery: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return failedIDs, errors.Join(errs...)
}

// DeadLetter implements delivery.RetryQueue.
func (q *Queue) DeadLetter(ctx context.Context, body []byte, reason string, class delivery.Class) error {
	attrs := map[string]types.MessageAttributeValue{
		AttrReason: {DataType: aws.String("String"), StringValue: aws.String(reason)},
	}
	if class != delivery.ClassNone {
		attrs[AttrErrorClass] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(string(class))}
	}
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: &q.dlqURL, MessageBody: aws.String(string(body)), MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("dead-letter delivery job (%s): %w", reason, err)
	}
	return nil
}

// visibilitySeconds rounds a wait down to SQS's whole seconds within 1 s and 12 h.
func visibilitySeconds(d time.Duration) int32 {
	secs := int32(min(d, delivery.MaxVisibility) / time.Second)
	return max(secs, 1)
}

// wait sleeps before retry round n: 0, 100 ms, 200 ms, 400 ms.
func wait(ctx context.Context, round int) error {
	if round == 0 {
		return nil
	}
	t := time.NewTimer(100 * time.Millisecond << (round - 1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait to resend delivery jobs: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// Receive implements eventsource.Source: what Lambda's event source mapping does on AWS, for
// the tests that play its part.
func (q *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]eventsource.Received, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &q.url,
		MaxNumberOfMessages:         int32(max),
		WaitTimeSeconds:             int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receive delivery jobs: %w", err)
	}
	msgs := make([]eventsource.Received, len(out.Messages))
	for i, m := range out.Messages {
		count, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		sent, _ := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64)
		attrs := make(map[string]string, len(m.MessageAttributes))
		for k, v := range m.MessageAttributes {
			attrs[k] = aws.ToString(v.StringValue)
		}
		msgs[i] = eventsource.Received{
			ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			ReceiveCount: count, SentAt: time.UnixMilli(sent), Attributes: attrs,
		}
	}
	return msgs, nil
}

// Delete implements eventsource.Source with DeleteMessageBatch.
func (q *Queue) Delete(ctx context.Context, msgs []eventsource.Received) error {
	for start := 0; start < len(msgs); start += batchLimit {
		chunk := msgs[start:min(start+batchLimit, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle)}
		}
		out, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			return fmt.Errorf("delete %d handled messages: %w", len(chunk), err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("delete handled messages: %d failed (%s)", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
	return nil
}
