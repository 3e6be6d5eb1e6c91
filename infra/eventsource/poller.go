// Package eventsource does for a queue what Lambda's SQS event source mapping does on AWS:
// receive a batch, hand it to the function as events.SQSEvent, delete what succeeded and leave
// the reported batch item failures to come back. The end-to-end tests and the single-machine
// runtime use it to drive the very handlers Lambda runs, over SQS or the embedded queue alike.
package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is an SQS-triggered Lambda handler with ReportBatchItemFailures.
type Handler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Received is one message handed out by a queue.
type Received struct {
	ID            string
	ReceiptHandle string
	Body          string
	ReceiveCount  int
	// SentAt is when the message was first sent.
	SentAt time.Time
	// Attributes are the message's own attributes (SQS message attributes), if any.
	Attributes map[string]string
}

// Source is a queue the poller reads.
type Source interface {
	// Receive returns up to max visible messages, waiting up to wait for the first one, and
	// hides them for the queue's visibility timeout.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Received, error)
	// Delete removes handled messages.
	Delete(ctx context.Context, msgs []Received) error
}

// Poller feeds one queue to one handler.
type Poller struct {
	Source    Source
	QueueARN  string
	Handler   Handler
	BatchSize int
	// WaitTime is the long-poll wait; 1 s keeps tests responsive, Lambda uses 20 s.
	WaitTime time.Duration
	// Timeout is the function's timeout: each batch's handler gets this long, as on Lambda.
	// Zero means no limit.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Run polls until ctx ends. Receive errors are logged and retried after a pause, as Lambda
// keeps polling through a queue's hiccups. Ending ctx stops the polling, not the work: a batch
// already received runs to its end (bounded by Timeout) and its successes are deleted, so a
// graceful stop cuts no delivery short and spends no attempt.
func (p *Poller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
			p.logger().Warn("poll queue", "queue", p.QueueARN, "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// PollOnce receives one batch, runs the handler and deletes the successes. It returns how
// many messages it received.
func (p *Poller) PollOnce(ctx context.Context) (int, error) {
	batch := p.BatchSize
	if batch <= 0 || batch > 10 {
		batch = 10
	}
	msgs, err := p.Source.Receive(ctx, batch, p.WaitTime)
	if err != nil {
		return 0, fmt.Errorf("receive from %s: %w", p.QueueARN, err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	byID := make(map[string]Received, len(msgs))
	for i, m := range msgs {
		ev.Records[i] = p.toRecord(m)
		byID[m.ID] = m
	}
	// The batch is ours now: what happens to ctx from here on (a stop) must not cut it short.
	ctx = context.WithoutCancel(ctx)
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	resp, err := p.invoke(ctx, ev)
	if err != nil {
		// Lambda treats a function error as a failure of the whole batch: every message
		// comes back after its visibility timeout.
		return len(msgs), fmt.Errorf("handler failed the batch: %w", err)
	}
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" {
			return len(msgs), errors.New("handler reported an empty itemIdentifier: the whole batch fails, as on Lambda")
		}
		delete(byID, f.ItemIdentifier)
	}
	done := make([]Received, 0, len(byID))
	for _, m := range byID {
		done = append(done, m)
	}
	if len(done) == 0 {
		return len(msgs), nil
	}
	if err := p.Source.Delete(ctx, done); err != nil {
		return len(msgs), fmt.Errorf("delete %d handled messages: %w", len(done), err)
	}
	return len(msgs), nil
}

// invoke runs the handler as Lambda's runtime does: a panic fails the invocation, and so the
// whole batch, which comes back after its visibility timeout (and reaches the dead-letter
// queue after maxReceiveCount), instead of taking the process down with it.
func (p *Poller) invoke(ctx context.Context, ev events.SQSEvent) (resp events.SQSEventResponse, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return p.Handler(ctx, ev)
}

func (p *Poller) toRecord(m Received) events.SQSMessage {
	attrs := make(map[string]events.SQSMessageAttribute, len(m.Attributes))
	for k, v := range m.Attributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
	}
	return events.SQSMessage{
		MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body,
		Attributes: map[string]string{
			"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount),
			"SentTimestamp":           strconv.FormatInt(m.SentAt.UnixMilli(), 10),
		},
		MessageAttributes: attrs, EventSource: "aws:sqs", EventSourceARN: p.QueueARN,
	}
}

func (p *Poller) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}
