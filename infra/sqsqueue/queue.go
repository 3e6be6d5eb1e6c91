// Package sqsqueue carries delivery jobs on Amazon SQS: the router enqueues them, the delivery
// function sends each retry as a new (delayed) message, parks early ones with
// ChangeMessageVisibility, and puts the hopeless ones in the dead-letter queue with their
// reason.
//
// The jobs of ordered webhooks ride a FIFO queue (NewFIFO) in one message group per endpoint
// (delivery.Job.OrderGroup), which SQS hands out in send order and not while one of the group
// is in flight; a standard queue sends them there when it is given one (WithOrdered), and
// refuses them otherwise.
package sqsqueue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

// undecodableGroup is the message group of a dead letter from a FIFO queue whose body is not
// a delivery job (infra/localqueue uses the same).
const undecodableGroup = "undecodable"

// Queue is the delivery queue and its dead-letter queue.
type Queue struct {
	client *sqs.Client
	url    string
	dlqURL string
	// fifo says url and dlqURL are FIFO queues (NewFIFO).
	fifo bool
	// ordered is the FIFO queue a standard queue sends ordered jobs to (WithOrdered).
	ordered *Queue
}

var (
	_ stagehooks.JobQueue = (*Queue)(nil)
	_ delivery.RetryQueue = (*Queue)(nil)
)

// New returns a Queue over the delivery queue url and its dead-letter queue dlqURL.
func New(client *sqs.Client, url, dlqURL string) *Queue {
	return &Queue{client: client, url: url, dlqURL: dlqURL}
}

// NewFIFO returns a Queue over the FIFO queue url and its FIFO dead-letter queue dlqURL. Every
// job it sends goes in its endpoint's group (Job.OrderGroup) with its id as deduplication id,
// so a job sent twice within SQS's 5-minute deduplication interval (a router invocation that
// EventBridge retries) is queued once. It takes no per-message delay: SQS refuses one on a
// FIFO queue.
func NewFIFO(client *sqs.Client, url, dlqURL string) *Queue {
	return &Queue{client: client, url: url, dlqURL: dlqURL, fifo: true}
}

// WithOrdered returns a copy of the standard queue q that sends every job with Ordered set, by
// Enqueue or Resend, to the FIFO queue fifo, in their order, and the others to q as before.
// Without it, q refuses ordered jobs rather than lose their order. A FIFO queue needs none: it
// takes every job itself.
func (q *Queue) WithOrdered(fifo *Queue) *Queue {
	c := *q
	c.ordered = fifo
	return &c
}

// Enqueue implements stagehooks.JobQueue with SendMessageBatch in chunks of ten, ordered jobs
// to the ordered queue (see Resend). Entries SQS rejects for a transient reason are sent again;
// an error means some jobs are not queued and the caller must retry the whole transition
// (receivers deduplicate on the stable job id; a FIFO queue drops the copies itself).
func (q *Queue) Enqueue(ctx context.Context, jobs []delivery.Job) error {
	resends := make([]delivery.Resend, len(jobs))
	for i, job := range jobs {
		resends[i] = delivery.Resend{Job: job}
	}
	return q.Resend(ctx, resends)
}

// Resend implements delivery.RetryQueue: new messages, each delayed by its Delay, with
// SendMessageBatch in batches of at most ten messages and maxBatchBytes. SQS refuses a delay
// above 15 minutes, and so does this; on a FIFO queue it refuses any delay. Ordered jobs go to
// the ordered queue (WithOrdered). Every job is checked before any is sent, so a job that
// would be refused sends nothing.
func (q *Queue) Resend(ctx context.Context, jobs []delivery.Resend) error {
	if q.fifo {
		msgs, err := q.encode(jobs)
		if err != nil {
			return err
		}
		return q.sendFIFO(ctx, msgs)
	}
	var plain, ordered []delivery.Resend
	for _, r := range jobs {
		if r.Job.Ordered {
			ordered = append(ordered, r)
		} else {
			plain = append(plain, r)
		}
	}
	if len(ordered) > 0 {
		switch {
		case q.ordered == nil:
			return fmt.Errorf("send delivery job %s: it is ordered and queue %s has no ordered queue to send it to (WithOrdered)", ordered[0].Job.ID, q.url)
		case !q.ordered.fifo:
			return fmt.Errorf("send delivery job %s: it is ordered and the ordered queue %s is not a FIFO queue", ordered[0].Job.ID, q.ordered.url)
		}
	}
	plainMsgs, err := q.encode(plain)
	if err != nil {
		return err
	}
	var orderedMsgs []outgoing
	if len(ordered) > 0 {
		if orderedMsgs, err = q.ordered.encode(ordered); err != nil {
			return err
		}
	}
	if err := q.send(ctx, plainMsgs); err != nil {
		return err
	}
	if len(orderedMsgs) == 0 {
		return nil
	}
	return q.ordered.sendFIFO(ctx, orderedMsgs)
}

// outgoing is a checked message; group and dedupID are set for a FIFO queue.
type outgoing struct {
	body, group, dedupID string
	delaySeconds         int32
}

// encode checks jobs against what SQS takes on q and encodes them.
func (q *Queue) encode(jobs []delivery.Resend) ([]outgoing, error) {
	msgs := make([]outgoing, len(jobs))
	for i, r := range jobs {
		switch {
		case r.Delay < 0 || r.Delay > delivery.MaxDelay:
			return nil, fmt.Errorf("send delivery job %s: delay %s is not within SQS's 0 to %s", r.Job.ID, r.Delay, delivery.MaxDelay)
		case q.fifo && r.Delay > 0:
			return nil, fmt.Errorf("send delivery job %s: delay %s on FIFO queue %s, which SQS refuses (DelaySeconds is not valid for a FIFO queue's messages)",
				r.Job.ID, r.Delay, q.url)
		}
		body, err := json.Marshal(r.Job)
		if err != nil {
			return nil, fmt.Errorf("encode delivery job %s: %w", r.Job.ID, err)
		}
		if len(body) > maxBatchBytes {
			return nil, fmt.Errorf("send delivery job %s: %d bytes, over SQS's message limit of %d", r.Job.ID, len(body), maxBatchBytes)
		}
		msgs[i] = outgoing{body: string(body), delaySeconds: int32(r.Delay / time.Second)}
		if q.fifo {
			msgs[i].group, msgs[i].dedupID = r.Job.OrderGroup(), r.Job.ID
		}
	}
	return msgs, nil
}

// send sends msgs to a standard queue in batches of at most batchLimit and maxBatchBytes.
func (q *Queue) send(ctx context.Context, msgs []outgoing) error {
	var entries []types.SendMessageBatchRequestEntry
	size := 0
	for _, m := range msgs {
		if len(entries) == batchLimit || size+len(m.body) > maxBatchBytes {
			if err := q.sendBatch(ctx, entries); err != nil {
				return err
			}
			entries, size = nil, 0
		}
		entries = append(entries, types.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(len(entries))), MessageBody: aws.String(m.body), DelaySeconds: m.delaySeconds,
		})
		size += len(m.body)
	}
	if len(entries) == 0 {
		return nil
	}
	return q.sendBatch(ctx, entries)
}

// sendFIFO sends msgs to a FIFO queue with no more than one message of a group in a batch,
// and each batch once the one before it is accepted whole. SQS keeps a group's order within
// a batch, but sendBatch sends the entries SQS failed again: one of them accepted after a
// later message of its group would be out of order for good. So a job is sent only once the
// job before it in its group is accepted. The price is one request per job for a call that
// holds many jobs of one group; a transition's jobs go to different webhooks, so a call
// usually holds one job per group and takes as many requests as on a standard queue.
func (q *Queue) sendFIFO(ctx context.Context, msgs []outgoing) error {
	var groups []string
	pending := map[string][]outgoing{}
	for _, m := range msgs {
		if _, ok := pending[m.group]; !ok {
			groups = append(groups, m.group)
		}
		pending[m.group] = append(pending[m.group], m)
	}
	for len(groups) > 0 {
		var entries []types.SendMessageBatchRequestEntry
		size := 0
		left := groups[:0]
		for _, g := range groups {
			m := pending[g][0]
			if len(entries) < batchLimit && size+len(m.body) <= maxBatchBytes {
				entries = append(entries, types.SendMessageBatchRequestEntry{
					Id: aws.String(strconv.Itoa(len(entries))), MessageBody: aws.String(m.body),
					MessageGroupId: aws.String(m.group), MessageDeduplicationId: aws.String(m.dedupID),
				})
				size += len(m.body)
				pending[g] = pending[g][1:]
			}
			if len(pending[g]) > 0 {
				left = append(left, g)
			}
		}
		if err := q.sendBatch(ctx, entries); err != nil {
			return err
		}
		groups = left
	}
	return nil
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

// RetryLater implements delivery.RetryQueue with ChangeMessageVisibilityBatch. A wait of 0
// makes the message visible at once. SQS refuses an entry whose wait would keep the message
// invisible past 12 h from its receive; such an entry is reported failed, and the message
// comes back after the queue's visibility timeout. A negative wait is reported failed without
// a request, as infra/localqueue reports it.
func (q *Queue) RetryLater(ctx context.Context, retries []delivery.Retry) ([]string, error) {
	var failedIDs []string
	var errs []error
	var valid []delivery.Retry
	for _, r := range retries {
		if r.Wait < 0 {
			failedIDs = append(failedIDs, r.Message.ID)
			errs = append(errs, fmt.Errorf("reschedule delivery %s: negative wait %s", r.Message.ID, r.Wait))
			continue
		}
		valid = append(valid, r)
	}
	retries = valid
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

// DeadLetter implements delivery.RetryQueue. From a FIFO queue the body goes to the FIFO
// dead-letter queue in its job's group (a webhook's dead letters stay in order; a body that is
// no job goes to one fixed group), with its SHA-256 as deduplication id, so that a send the
// SDK retries is stored once.
func (q *Queue) DeadLetter(ctx context.Context, body []byte, reason string, class delivery.Class) error {
	attrs := map[string]types.MessageAttributeValue{
		AttrReason: {DataType: aws.String("String"), StringValue: aws.String(reason)},
	}
	if class != delivery.ClassNone {
		attrs[AttrErrorClass] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(string(class))}
	}
	in := &sqs.SendMessageInput{QueueUrl: &q.dlqURL, MessageBody: aws.String(string(body)), MessageAttributes: attrs}
	if q.fifo {
		group := undecodableGroup
		if job, err := delivery.DecodeJob(body); err == nil {
			group = job.OrderGroup()
		}
		sum := sha256.Sum256(body)
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(group), aws.String(hex.EncodeToString(sum[:]))
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("dead-letter delivery job (%s): %w", reason, err)
	}
	return nil
}

// visibilitySeconds rounds a wait to SQS's whole seconds within 0 and 12 h: down, except that
// a wait under a second is a second, since 0 means "visible at once" and the wait asked for
// more.
func visibilitySeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
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
