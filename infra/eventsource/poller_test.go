package eventsource_test

import (
	"context"
	"database/sql"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// The poller is tested on the embedded queue it drives in the single-machine runtime.
func newQueue(t *testing.T, visibility time.Duration) *localqueue.Queue {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return mustQueue(t, db, visibility)
}

func mustQueue(t *testing.T, db *sql.DB, visibility time.Duration) *localqueue.Queue {
	t.Helper()
	q, err := localqueue.New(context.Background(), db, "work", localqueue.Options{VisibilityTimeout: visibility})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), []delivery.Job{{ID: "d1", TenantID: "t", WebhookID: "w", EventType: "e", Payload: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	return q
}

// A stop while a batch is in its handler lets the handler finish with a live context and
// deletes what it handled: a graceful stop cuts no delivery short.
func TestStopLetsTheBatchInFlightFinish(t *testing.T) {
	t.Parallel()
	q := newQueue(t, time.Minute)
	ctx, stop := context.WithCancel(context.Background())
	inHandler := make(chan struct{})
	var handlerCtxLive atomic.Value
	p := &eventsource.Poller{Source: q, QueueARN: "local:work", BatchSize: 10, WaitTime: time.Second,
		Handler: func(hctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			close(inHandler)
			time.Sleep(300 * time.Millisecond) // the stop lands here
			handlerCtxLive.Store(hctx.Err() == nil)
			return events.SQSEventResponse{}, nil
		}}
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	<-inHandler
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	if live, _ := handlerCtxLive.Load().(bool); !live {
		t.Fatal("the handler's context was cancelled by the stop")
	}
	if left, err := q.Receive(context.Background(), 10, 0); err != nil || len(left) != 0 {
		t.Fatalf("after the stop %d messages are left (%v): the handled batch was not deleted", len(left), err)
	}
}

// A panicking handler fails its batch, as Lambda's runtime reports a panic as a function
// error: the message comes back and the poller goes on.
func TestAPanickingHandlerFailsItsBatchNotTheProcess(t *testing.T) {
	t.Parallel()
	q := newQueue(t, time.Second)
	calls := 0
	p := &eventsource.Poller{Source: q, QueueARN: "local:work", BatchSize: 10, WaitTime: time.Second,
		Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
			calls++
			if calls == 1 {
				panic("boom")
			}
			return events.SQSEventResponse{}, nil
		}}
	n, err := p.PollOnce(context.Background())
	if n != 1 || err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("PollOnce = %d, %v; want the batch failed with the panic", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls < 2 && time.Now().Before(deadline) {
		if _, err := p.PollOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatal("the message did not come back after the panic")
	}
}

// Each batch gets the function's timeout, as on Lambda.
func TestTheHandlerGetsTheFunctionTimeout(t *testing.T) {
	t.Parallel()
	q := newQueue(t, time.Minute)
	var left time.Duration
	p := &eventsource.Poller{Source: q, QueueARN: "local:work", BatchSize: 10, Timeout: 42 * time.Second,
		Handler: func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			d, ok := ctx.Deadline()
			if ok {
				left = time.Until(d)
			}
			return events.SQSEventResponse{}, nil
		}}
	if _, err := p.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left <= 40*time.Second || left > 42*time.Second {
		t.Fatalf("handler deadline %s away, want about 42 s", left)
	}
}
