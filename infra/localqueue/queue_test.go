package localqueue_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/shared/delivery"
)

// The queue contract (tests/contract) runs against this package too; these tests cover what
// the contract leaves out: redrive, the receipt-handle rules SQS itself is lax about, waking,
// atomicity, isolation of named queues, the index, and durability across a killed process.

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newQueue(t testing.TB, db *sql.DB, name string, opts localqueue.Options) *localqueue.Queue {
	t.Helper()
	q, err := localqueue.New(context.Background(), db, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// clock is a test clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func job(i int) delivery.Job {
	return delivery.Job{ID: fmt.Sprintf("d-%04d", i), TenantID: "t", WebhookID: "w", EventType: "e", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
}

func receiveNow(t testing.TB, q *localqueue.Queue, n int) []eventsource.Received {
	t.Helper()
	msgs, err := q.Receive(context.Background(), n, 0)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestNewRefusesInvalidOptions(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	for _, tc := range []struct {
		name, queue string
		opts        localqueue.Options
		want        string
	}{
		{"empty name", "", localqueue.Options{}, "empty name"},
		{"negative visibility", "q", localqueue.Options{VisibilityTimeout: -time.Second}, "visibility"},
		{"visibility above 12 h", "q", localqueue.Options{VisibilityTimeout: 13 * time.Hour}, "visibility"},
		{"negative max receive count", "q", localqueue.Options{MaxReceiveCount: -1, DeadLetter: "dlq"}, "negative"},
		{"redrive without a dead-letter queue", "q", localqueue.Options{MaxReceiveCount: 3}, "needs a dead-letter queue"},
		{"its own dead-letter queue", "q", localqueue.Options{DeadLetter: "q"}, "own dead-letter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := localqueue.New(context.Background(), db, tc.queue, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// Scenario: a message that fails on every receive is handed out MaxReceiveCount times; the
// receive after that moves it, whole, to the dead-letter queue, and hands out the next
// message in the same call.
func TestRedriveMovesAMessageOnTheReceiveAfterTheLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	clk := newClock()
	vis := 10 * time.Second
	q := newQueue(t, db, "work", localqueue.Options{VisibilityTimeout: vis, MaxReceiveCount: 3, DeadLetter: "work-dlq", Now: clk.Now})
	dlq := newQueue(t, db, "work-dlq", localqueue.Options{Now: clk.Now})
	if err := q.Send(ctx, []localqueue.Outgoing{{Body: []byte("poison"), Attributes: map[string]string{"k": "v"}}}); err != nil {
		t.Fatal(err)
	}
	var first eventsource.Received
	for i := 1; i <= 3; i++ {
		msgs := receiveNow(t, q, 10)
		if len(msgs) != 1 || msgs[0].ReceiveCount != i {
			t.Fatalf("receive %d: %+v, want the message with receive count %d", i, msgs, i)
		}
		first = msgs[0]
		clk.Advance(vis)
	}
	clk.Advance(time.Second)
	if err := q.Send(ctx, []localqueue.Outgoing{{Body: []byte("healthy")}}); err != nil {
		t.Fatal(err)
	}
	msgs := receiveNow(t, q, 10)
	if len(msgs) != 1 || msgs[0].Body != "healthy" {
		t.Fatalf("receive after the last: %+v, want only the healthy message", msgs)
	}
	if again := receiveNow(t, q, 10); len(again) != 0 {
		t.Fatalf("the redriven message is still on the queue: %+v", again)
	}
	dead := receiveNow(t, dlq, 10)
	if len(dead) != 1 {
		t.Fatalf("dead-letter queue holds %d messages, want 1", len(dead))
	}
	d := dead[0]
	// SQS keeps the message ID, the body, the attributes, the enqueue time and the receive
	// count of a message it moves to a dead-letter queue.
	if d.ID != first.ID || d.Body != "poison" || d.Attributes["k"] != "v" || !d.SentAt.Equal(first.SentAt) || d.ReceiveCount != 4 {
		t.Fatalf("dead letter %+v, want %s, body poison, attribute k=v, sent at %v, receive count 4", d, first.ID, first.SentAt)
	}
	// The receipt handle of the last receive from the source queue died with the move.
	failed, err := q.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: first.ID, ReceiptHandle: first.ReceiptHandle}, Wait: time.Minute}})
	if err == nil || len(failed) != 1 {
		t.Fatalf("RetryLater with the source queue's handle: failed %v, %v; want it refused", failed, err)
	}
}

func TestRedriveDoesNotCountChangesOfVisibility(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	clk := newClock()
	q := newQueue(t, db, "work", localqueue.Options{VisibilityTimeout: time.Minute, MaxReceiveCount: 1, DeadLetter: "dlq", Now: clk.Now})
	if err := q.Enqueue(ctx, []delivery.Job{job(1)}); err != nil {
		t.Fatal(err)
	}
	m := receiveNow(t, q, 1)[0]
	for range 5 {
		if failed, err := q.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: m.ID, ReceiptHandle: m.ReceiptHandle}, Wait: time.Second}}); err != nil {
			t.Fatalf("RetryLater: %v (failed %v)", err, failed)
		}
	}
	// Received once: the next receive redrives it, five visibility changes notwithstanding.
	clk.Advance(time.Second)
	if msgs := receiveNow(t, q, 1); len(msgs) != 0 {
		t.Fatalf("received %+v after MaxReceiveCount 1 was spent", msgs)
	}
	if dead := receiveNow(t, newQueue(t, db, "dlq", localqueue.Options{Now: clk.Now}), 10); len(dead) != 1 || dead[0].ReceiveCount != 2 {
		t.Fatalf("dead-letter queue holds %+v, want the message received once before", dead)
	}
}

// SQS lets an earlier receipt handle still change or delete a message it hands out again
// ("the request succeeds, but the message might not be deleted"); this queue does not, so a
// slow handler can neither delete nor reschedule a message another receiver now holds.
func TestASupersededReceiptHandleNeitherDeletesNorChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	clk := newClock()
	vis := 30 * time.Second
	q := newQueue(t, db, "work", localqueue.Options{VisibilityTimeout: vis, Now: clk.Now})
	if err := q.Enqueue(ctx, []delivery.Job{job(1)}); err != nil {
		t.Fatal(err)
	}
	slow := receiveNow(t, q, 1)[0]
	clk.Advance(vis)
	current := receiveNow(t, q, 1)[0]
	if current.ID != slow.ID || current.ReceiptHandle == slow.ReceiptHandle {
		t.Fatalf("second receive %+v, want %s with a new receipt handle", current, slow.ID)
	}
	failed, err := q.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: slow.ID, ReceiptHandle: slow.ReceiptHandle}, Wait: 0}})
	if err == nil || !slices.Equal(failed, []string{slow.ID}) {
		t.Fatalf("RetryLater with the superseded handle: failed %v, %v; want %s refused", failed, err, slow.ID)
	}
	if err := q.Delete(ctx, []eventsource.Received{slow}); err != nil {
		t.Fatalf("Delete with a superseded handle: %v, want no error (as on SQS)", err)
	}
	if msgs := receiveNow(t, q, 1); len(msgs) != 0 {
		t.Fatalf("the superseded handle made the message visible: %+v", msgs)
	}
	clk.Advance(vis)
	back := receiveNow(t, q, 1)
	if len(back) != 1 || back[0].ID != slow.ID || back[0].ReceiveCount != 3 {
		t.Fatalf("after the visibility timeout got %+v, want %s with receive count 3", back, slow.ID)
	}
	if err := q.Delete(ctx, back); err != nil {
		t.Fatal(err)
	}
	clk.Advance(vis)
	if msgs := receiveNow(t, q, 1); len(msgs) != 0 {
		t.Fatalf("the current handle did not delete: %+v", msgs)
	}
}

func TestDeleteRefusesAHandleItNeverIssued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, openDB(t), "work", localqueue.Options{})
	if err := q.Enqueue(ctx, []delivery.Job{job(1), job(2)}); err != nil {
		t.Fatal(err)
	}
	msgs := receiveNow(t, q, 2)
	bad := eventsource.Received{ID: "m-bad", ReceiptHandle: msgs[0].ID} // a message ID is no receipt handle
	err := q.Delete(ctx, []eventsource.Received{msgs[0], bad})
	if err == nil || !strings.Contains(err.Error(), "m-bad") {
		t.Fatalf("Delete with a made-up handle: %v, want an error naming m-bad", err)
	}
	// The valid handle of the same call still deleted its message.
	if failed, _ := q.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: msgs[0].ID, ReceiptHandle: msgs[0].ReceiptHandle}}}); len(failed) != 1 {
		t.Fatalf("message %s still there after Delete", msgs[0].ID)
	}
}

func TestEnqueueIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, openDB(t), "work", localqueue.Options{})
	bad := job(2)
	bad.Payload = json.RawMessage(`{not json`)
	if err := q.Enqueue(ctx, []delivery.Job{job(1), bad, job(3)}); err == nil {
		t.Fatal("Enqueue of a job that cannot be encoded succeeded")
	}
	if err := q.Send(ctx, []localqueue.Outgoing{{Body: []byte("a")}, {Body: []byte("b"), Delay: 16 * time.Minute}}); err == nil {
		t.Fatal("Send with a delay above 15 min succeeded")
	}
	if msgs := receiveNow(t, q, 10); len(msgs) != 0 {
		t.Fatalf("a failed Enqueue or Send left %d messages behind", len(msgs))
	}
}

func TestSendKeepsBodiesAndAttributesInSendOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	q := newQueue(t, openDB(t), "work", localqueue.Options{Now: clk.Now})
	var out []localqueue.Outgoing
	for i := range 25 {
		out = append(out, localqueue.Outgoing{Body: fmt.Appendf(nil, "m%02d", i)})
	}
	out[3].Attributes = map[string]string{"herald-function": "RouterFunction", "empty": ""}
	out[4].Body = nil
	if err := q.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
	var got []eventsource.Received
	for len(got) < len(out) {
		batch := receiveNow(t, q, 10)
		if len(batch) == 0 || len(batch) > 10 {
			t.Fatalf("batch of %d after %d messages", len(batch), len(got))
		}
		got = append(got, batch...)
	}
	for i, m := range got {
		if m.Body != string(out[i].Body) || fmt.Sprint(m.Attributes) != fmt.Sprint(out[i].Attributes) {
			t.Fatalf("message %d: body %q attributes %v, want %q %v (send order)", i, m.Body, m.Attributes, out[i].Body, out[i].Attributes)
		}
		if !m.SentAt.Equal(clk.Now()) || m.ReceiveCount != 1 || len(m.ID) != 36 {
			t.Fatalf("message %d: sent at %v, receive count %d, id %q", i, m.SentAt, m.ReceiveCount, m.ID)
		}
	}
}

func TestResendDelaysUpTo15Minutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	q := newQueue(t, openDB(t), "work", localqueue.Options{Now: clk.Now})
	if err := q.Resend(ctx, []delivery.Resend{{Job: job(1), Delay: 2 * time.Hour}}); err == nil {
		t.Fatal("a 2 h delay was accepted; SQS refuses delays over 15 minutes")
	}
	if err := q.Resend(ctx, []delivery.Resend{{Job: job(1), Delay: 15 * time.Minute}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(15*time.Minute - time.Microsecond)
	if msgs := receiveNow(t, q, 1); len(msgs) != 0 {
		t.Fatal("resent job visible before its delay")
	}
	clk.Advance(time.Microsecond)
	if msgs := receiveNow(t, q, 1); len(msgs) != 1 {
		t.Fatal("resent job not visible after its 15 min delay")
	}
}

// The 12 hours a received message may stay hidden count from its receive, on the queue's own
// clock: a wait that ends later is refused however it is split.
func TestRetryLaterCountsTwelveHoursFromTheReceive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	q := newQueue(t, openDB(t), "work", localqueue.Options{Now: clk.Now, VisibilityTimeout: time.Hour})
	if err := q.Enqueue(ctx, []delivery.Job{job(1)}); err != nil {
		t.Fatal(err)
	}
	m := receiveNow(t, q, 1)[0]
	msg := delivery.Message{ID: m.ID, ReceiptHandle: m.ReceiptHandle}
	clk.Advance(30 * time.Minute)
	if failed, err := q.RetryLater(ctx, []delivery.Retry{{Message: msg, Wait: 11*time.Hour + 30*time.Minute}}); err != nil || len(failed) != 0 {
		t.Fatalf("11 h 30 min, 30 min after the receive: failed %v, %v", failed, err)
	}
	clk.Advance(time.Hour)
	if failed, err := q.RetryLater(ctx, []delivery.Retry{{Message: msg, Wait: 11 * time.Hour}}); err == nil || len(failed) != 1 {
		t.Fatalf("11 h, 90 min after the receive: failed %v, %v; want it refused", failed, err)
	}
	// Refused, the message keeps the wait it had: hidden until 12 h after the receive.
	clk.Advance(10*time.Hour + 30*time.Minute - time.Microsecond)
	if msgs := receiveNow(t, q, 1); len(msgs) != 0 {
		t.Fatal("the refused wait changed the message's visibility")
	}
	clk.Advance(time.Microsecond)
	if msgs := receiveNow(t, q, 1); len(msgs) != 1 {
		t.Fatal("message not back 12 h after its receive")
	}
}

func TestNamedQueuesShareTheTableNotTheMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	a := newQueue(t, db, "a", localqueue.Options{})
	b := newQueue(t, db, "b", localqueue.Options{})
	if err := a.Send(ctx, []localqueue.Outgoing{{Body: []byte("for a")}}); err != nil {
		t.Fatal(err)
	}
	if msgs := receiveNow(t, b, 10); len(msgs) != 0 {
		t.Fatalf("queue b received %+v sent to a", msgs)
	}
	msgs := receiveNow(t, a, 10)
	if len(msgs) != 1 {
		t.Fatalf("queue a received %d messages, want 1", len(msgs))
	}
	// Handles are per queue too.
	if err := b.Delete(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if failed, _ := a.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: msgs[0].ID, ReceiptHandle: msgs[0].ReceiptHandle}}}); len(failed) != 0 {
		t.Fatal("queue b deleted a message of queue a")
	}
}

// Scenario: a receiver waits on an empty queue while a message is delayed; it gets the message
// when the delay ends, not when its wait does, and without anyone sending anything.
func TestAWaitingReceiveWakesWhenADelayedMessageBecomesVisible(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue(t, openDB(t), "work", localqueue.Options{})
	delay := 300 * time.Millisecond
	start := time.Now()
	if err := q.Send(ctx, []localqueue.Outgoing{{Body: []byte("later"), Delay: delay}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, 10, 10*time.Second)
	took := time.Since(start)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive: %d messages, %v", len(msgs), err)
	}
	if took < delay || took > 5*time.Second {
		t.Fatalf("delayed message received after %s, want just after %s", took, delay)
	}
}

func TestAWaitingReceiveEndsWithItsContextOrItsWait(t *testing.T) {
	t.Parallel()
	q := newQueue(t, openDB(t), "work", localqueue.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := q.Receive(ctx, 10, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive after its context ended: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Receive outlived its context by %s", took)
	}
	start = time.Now()
	msgs, err := q.Receive(context.Background(), 10, 300*time.Millisecond)
	if took := time.Since(start); err != nil || len(msgs) != 0 || took < 300*time.Millisecond {
		t.Fatalf("empty receive: %d messages, %v, after %s; want none after the 300ms wait", len(msgs), err, took)
	}
}

// Scenario: four receivers long-poll one queue while 200 messages arrive in small batches;
// every message is handed out exactly once.
func TestConcurrentReceiversGetEachMessageOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	q := newQueue(t, db, "work", localqueue.Options{VisibilityTimeout: time.Hour})
	const total = 200
	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		r := newQueue(t, db, "work", localqueue.Options{VisibilityTimeout: time.Hour})
		wg.Go(func() {
			for ctx.Err() == nil {
				msgs, err := r.Receive(ctx, 10, time.Second)
				if err != nil {
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[m.Body]++
				}
				n := len(seen)
				mu.Unlock()
				if err := r.Delete(ctx, msgs); err != nil && ctx.Err() == nil {
					t.Error(err)
				}
				if n == total {
					cancel()
				}
			}
		})
	}
	for i := 0; i < total; i += 5 {
		var batch []localqueue.Outgoing
		for j := i; j < i+5; j++ {
			batch = append(batch, localqueue.Outgoing{Body: fmt.Appendf(nil, "%d", j)})
		}
		if err := q.Send(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		cancel()
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("received %d of %d messages", len(seen), total)
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("message %s received %d times", body, n)
		}
	}
}

// The single-machine target is p99 ≤ 50 ms from event to receiver. This measures the queue's
// share, send committed to waiting receiver, and asserts it loosely (a loaded CI machine, the
// race detector); the figure itself is in the log and in BenchmarkSendToWaitingReceiver.
func TestAWaitingReceiverGetsAMessageWithinMilliseconds(t *testing.T) {
	t.Parallel()
	q := newQueue(t, openDB(t), "work", localqueue.Options{})
	lat := sendToWaitingReceiver(t, q, 50)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("send to waiting receiver over %d messages: p50 %s, p99 %s, max %s", len(lat), p50, p99, lat[len(lat)-1])
	if p50 > 250*time.Millisecond {
		t.Fatalf("p50 %s: a waiting receiver is not woken by the send", p50)
	}
}

// sendToWaitingReceiver sends n messages one by one, each while a receiver waits, and returns
// the sorted latencies from before Send to the receiver having it.
func sendToWaitingReceiver(t testing.TB, q *localqueue.Queue, n int) []time.Duration {
	t.Helper()
	ctx := context.Background()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		got := make(chan time.Time, 1)
		ready := make(chan struct{})
		go func() {
			close(ready)
			msgs, err := q.Receive(ctx, 10, 10*time.Second)
			if err != nil || len(msgs) != 1 {
				got <- time.Time{}
				return
			}
			now := time.Now()
			if err := q.Delete(ctx, msgs); err != nil {
				got <- time.Time{}
				return
			}
			got <- now
		}()
		<-ready
		time.Sleep(2 * time.Millisecond) // let it reach its wait
		start := time.Now()
		if err := q.Send(ctx, []localqueue.Outgoing{{Body: fmt.Appendf(nil, "%d", i)}}); err != nil {
			t.Fatal(err)
		}
		at := <-got
		if at.IsZero() {
			t.Fatalf("message %d: receiver failed", i)
		}
		lat = append(lat, max(at.Sub(start), 0))
	}
	slices.Sort(lat)
	return lat
}

// Receive must stay O(log n) on a big table: its queries must walk the (queue, visible_at)
// index, never scan the table or sort.
func TestReceiveQueriesUseTheVisibilityIndex(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	newQueue(t, db, "work", localqueue.Options{})
	for _, query := range []string{
		`SELECT MIN(visible_at) FROM queue_messages WHERE queue = ?`,
		`SELECT seq, id, body, attributes, sent_at, receive_count FROM queue_messages
			WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?`,
	} {
		plan, err := sqlitedb.QueryPlan(context.Background(), db, query, "work", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "queue_messages_by_visibility") || strings.Contains(joined, "TEMP B-TREE") {
			t.Errorf("plan %q for %s: want the visibility index and no sort", joined, query)
		}
	}
	for _, query := range []string{
		`UPDATE queue_messages SET visible_at = 0 WHERE receipt = ? AND queue = ?`,
		`DELETE FROM queue_messages WHERE receipt = ? AND queue = ?`,
	} {
		plan, err := sqlitedb.QueryPlan(context.Background(), db, query, "r", "work")
		if err != nil {
			t.Fatal(err)
		}
		if joined := strings.Join(plan, "; "); !strings.Contains(joined, "queue_messages_by_receipt") {
			t.Errorf("plan %q for %s: want the receipt index", joined, query)
		}
	}
}

func TestReleaseInFlightFreesReceivedButNotRescheduled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := localqueue.New(ctx, db, "q", localqueue.Options{VisibilityTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Send(ctx, []localqueue.Outgoing{{Body: []byte("in flight")}, {Body: []byte("waiting for a retry")}}); err != nil {
		t.Fatal(err)
	}
	got, err := q.Receive(ctx, 10, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("receive: %v, %v", got, err)
	}
	retry := got[1]
	if got[0].Body != "in flight" {
		retry = got[0]
	}
	if failed, err := q.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: retry.ID, ReceiptHandle: retry.ReceiptHandle}, Wait: time.Hour}}); err != nil || len(failed) != 0 {
		t.Fatalf("RetryLater: %v, %v", failed, err)
	}
	n, err := q.ReleaseInFlight(ctx)
	if err != nil || n != 1 {
		t.Fatalf("released %d, %v; want 1", n, err)
	}
	again, err := q.Receive(ctx, 10, 0)
	// Its first receive died with the process and is not counted: this one is its first.
	if err != nil || len(again) != 1 || again[0].Body != "in flight" || again[0].ReceiveCount != 1 {
		t.Fatalf("after release: %+v, %v", again, err)
	}
}

// A message older than the queue's retention is gone, whatever its state, as on SQS; a
// dead-lettered one keeps its first send time.
func TestExpireHonoursTheRetentionPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock()
	db := openDB(t)
	dlq := newQueue(t, db, "dlq", localqueue.Options{Now: clk.Now, Retention: 14 * 24 * time.Hour})
	q := newQueue(t, db, "work", localqueue.Options{Now: clk.Now, Retention: time.Hour, DeadLetter: "dlq", MaxReceiveCount: 1, VisibilityTimeout: time.Minute})
	if err := q.Enqueue(ctx, []delivery.Job{job(1), job(2)}); err != nil {
		t.Fatal(err)
	}
	receiveNow(t, q, 1) // in flight
	clk.Advance(30 * time.Minute)
	if err := q.Enqueue(ctx, []delivery.Job{job(3)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30*time.Minute + time.Second)
	if n, err := q.Expire(ctx); err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want the 2 messages sent over an hour ago", n, err)
	}
	msgs := receiveNow(t, q, 10)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Body, job(3).ID) {
		t.Fatalf("left: %+v, want only the newer job", msgs)
	}
	if n, err := dlq.Expire(ctx); err != nil || n != 0 {
		t.Fatalf("dead-letter queue Expire = %d, %v", n, err)
	}
	if _, err := localqueue.New(ctx, db, "bad", localqueue.Options{Retention: 15 * 24 * time.Hour}); err == nil {
		t.Fatal("a retention over SQS's 14 days was accepted")
	}
}

// SendAll commits the messages of several queues together, or none of them: one refused
// message (a delay above SQS's 15 minutes) keeps the other queue's messages out too.
func TestSendAllIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	a, b := newQueue(t, db, "a", localqueue.Options{}), newQueue(t, db, "b", localqueue.Options{})
	err := localqueue.SendAll(ctx, []localqueue.Sending{
		{Queue: a, Msgs: []localqueue.Outgoing{{Body: []byte("a1")}}},
		{Queue: b, Msgs: []localqueue.Outgoing{{Body: []byte("b1"), Delay: time.Hour}}},
	})
	if err == nil {
		t.Fatal("a delay of an hour was accepted")
	}
	if got, err := a.Receive(ctx, 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("queue a after a refused SendAll: %d messages, %v", len(got), err)
	}
	if err := localqueue.SendAll(ctx, []localqueue.Sending{
		{Queue: a, Msgs: []localqueue.Outgoing{{Body: []byte("a1")}}},
		{Queue: b, Msgs: []localqueue.Outgoing{{Body: []byte("b1")}, {Body: []byte("b2")}}},
	}); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[*localqueue.Queue]int{a: 1, b: 2} {
		if got, err := q.Receive(ctx, 10, 0); err != nil || len(got) != want {
			t.Fatalf("queue %s: %d messages, %v; want %d", q.Name(), len(got), err, want)
		}
	}
}
