package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// QueueUnderTest is one delivery queue seen through every interface Herald uses it by: the
// router enqueues, the delivery function reschedules and dead-letters, and the event source
// (Lambda's on AWS, the poller locally) receives and deletes.
type QueueUnderTest struct {
	Jobs   stagehooks.JobQueue
	Retry  delivery.RetryQueue
	Source eventsource.Source
	// DeadLetters returns what reached the queue's dead-letter queue and was not returned by
	// an earlier call; it may return nothing yet, and is called again until the test has what
	// it waits for.
	DeadLetters func(t *testing.T) []DeadLetter
}

// DeadLetter is one message read from a dead-letter queue.
type DeadLetter struct {
	Body       string
	Attributes map[string]string
}

// The attributes an operator reads on a dead-lettered job, on every runtime.
const (
	attrReason     = "herald-reason"
	attrErrorClass = "herald-error-class"
)

// batchMax is what Lambda's SQS event source asks for by default and SQS's maximum per receive.
const batchMax = 10

// longPoll is the receive wait of the tests: whole seconds, since SQS counts WaitTimeSeconds
// in seconds (a shorter wait is a short poll, which on SQS may miss messages).
const longPoll = time.Second

// TestQueue runs the queue contract against a fresh, empty queue per subtest, whose visibility
// timeout is visibility (whole seconds: SQS's unit).
//
// Timing rule: a lower bound ("not before") is asserted strictly, measured from before the call
// that started the clock, so it holds however slow the machine; an upper bound ("by then") is
// loose, for a loaded 2-core machine.
func TestQueue(t *testing.T, newQueue func(t *testing.T, visibility time.Duration) QueueUnderTest) {
	ctx := context.Background()

	t.Run("every enqueued job is received exactly once, in batches of at most ten", func(t *testing.T) {
		t.Parallel()
		// A visibility timeout far above the test's duration: any second delivery is a bug.
		q := newQueue(t, 30*time.Second)
		jobs := queueJobs(25)
		sent := time.Now()
		if err := q.Jobs.Enqueue(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		deadline := time.Now().Add(20 * time.Second)
		for len(seen) < len(jobs) && time.Now().Before(deadline) {
			msgs := receive(ctx, t, q.Source)
			if len(msgs) > batchMax {
				t.Fatalf("a receive of at most %d returned %d messages", batchMax, len(msgs))
			}
			for _, m := range msgs {
				job := decodeJob(t, m)
				if seen[job.ID] {
					t.Fatalf("job %s received twice", job.ID)
				}
				seen[job.ID] = true
				if m.ReceiveCount != 1 {
					t.Errorf("job %s: receive count %d on its first receive, want 1", job.ID, m.ReceiveCount)
				}
				if m.ID == "" || m.ReceiptHandle == "" {
					t.Errorf("job %s: message id %q, receipt handle %q: want both set", job.ID, m.ID, m.ReceiptHandle)
				}
				// A minute either way for a queue service's clock.
				if m.SentAt.Before(sent.Add(-time.Minute)) || m.SentAt.After(time.Now().Add(time.Minute)) {
					t.Errorf("job %s: sent at %v, want about %v", job.ID, m.SentAt, sent)
				}
			}
		}
		if len(seen) != len(jobs) {
			t.Fatalf("received %d of %d jobs", len(seen), len(jobs))
		}
		if more := receive(ctx, t, q.Source); len(more) > 0 {
			t.Fatalf("%d messages received again while in flight", len(more))
		}
	})

	t.Run("a deleted message does not come back", func(t *testing.T) {
		t.Parallel()
		vis := 2 * time.Second
		q := newQueue(t, vis)
		if err := q.Jobs.Enqueue(ctx, queueJobs(2)); err != nil {
			t.Fatal(err)
		}
		msgs := receiveN(ctx, t, q.Source, 2)
		if err := q.Source.Delete(ctx, msgs[:1]); err != nil {
			t.Fatal(err)
		}
		// Long enough for the undeleted one to come back: only it may.
		again := receiveN(ctx, t, q.Source, 1)
		if again[0].ID != msgs[1].ID {
			t.Fatalf("message %s came back after it was deleted", again[0].ID)
		}
		if err := q.Source.Delete(ctx, again); err != nil {
			t.Fatal(err)
		}
		time.Sleep(vis)
		if left := receive(ctx, t, q.Source); len(left) > 0 {
			t.Fatalf("%d messages left after deleting them all: %v", len(left), left)
		}
	})

	t.Run("an undeleted message comes back after the visibility timeout, counted", func(t *testing.T) {
		t.Parallel()
		vis := 2 * time.Second
		q := newQueue(t, vis)
		if err := q.Jobs.Enqueue(ctx, queueJobs(1)); err != nil {
			t.Fatal(err)
		}
		received := time.Now() // before the receive that hides it
		first := receiveN(ctx, t, q.Source, 1)[0]
		second := receiveN(ctx, t, q.Source, 1)[0]
		if back := time.Since(received); back < vis {
			t.Fatalf("message came back %s after it was received, before the %s visibility timeout", back, vis)
		}
		if second.ID != first.ID || second.Body != first.Body {
			t.Fatalf("got %s %q back, want %s %q", second.ID, second.Body, first.ID, first.Body)
		}
		if second.ReceiveCount != 2 {
			t.Fatalf("receive count %d on the second receive, want 2", second.ReceiveCount)
		}
		if second.ReceiptHandle == first.ReceiptHandle {
			t.Fatal("the second receive handed out the first receive's receipt handle")
		}
	})

	t.Run("RetryLater hides a message for its wait without counting a receive", func(t *testing.T) {
		t.Parallel()
		// The visibility timeout is longer than the wait, so a message seen after the wait
		// came back because of RetryLater, not because its visibility ran out.
		q := newQueue(t, 30*time.Second)
		if err := q.Jobs.Enqueue(ctx, queueJobs(1)); err != nil {
			t.Fatal(err)
		}
		m := receiveN(ctx, t, q.Source, 1)[0]
		wait := 2 * time.Second
		start := time.Now()
		failed, err := q.Retry.RetryLater(ctx, []delivery.Retry{{Message: message(m), Wait: wait}})
		if err != nil || len(failed) > 0 {
			t.Fatalf("RetryLater: failed %v, %v", failed, err)
		}
		again := receiveN(ctx, t, q.Source, 1)[0]
		if back := time.Since(start); back < wait {
			t.Fatalf("message came back %s after RetryLater, before its %s wait", back, wait)
		} else if back > wait+15*time.Second {
			t.Fatalf("message came back %s after RetryLater with a %s wait", back, wait)
		}
		if again.ID != m.ID || again.ReceiveCount != 2 {
			t.Fatalf("got %s with receive count %d, want %s with 2 (RetryLater does not count)", again.ID, again.ReceiveCount, m.ID)
		}
	})

	t.Run("RetryLater reports stale and unknown receipt handles as failed", func(t *testing.T) {
		t.Parallel()
		q := newQueue(t, 30*time.Second)
		if err := q.Jobs.Enqueue(ctx, queueJobs(2)); err != nil {
			t.Fatal(err)
		}
		msgs := receiveN(ctx, t, q.Source, 2)
		deleted, live := msgs[0], msgs[1]
		if err := q.Source.Delete(ctx, []eventsource.Received{deleted}); err != nil {
			t.Fatal(err)
		}
		unknown := delivery.Message{ID: "never-sent", ReceiptHandle: "not-a-receipt-handle"}
		failed, err := q.Retry.RetryLater(ctx, []delivery.Retry{
			{Message: message(deleted), Wait: time.Second},
			{Message: message(live), Wait: time.Second},
			{Message: unknown, Wait: time.Second},
		})
		if err == nil {
			t.Error("RetryLater with stale handles returned no error")
		}
		got := map[string]bool{}
		for _, id := range failed {
			got[id] = true
		}
		if len(failed) != 2 || !got[deleted.ID] || !got[unknown.ID] {
			t.Fatalf("failed %v, want exactly the deleted message %s and %s", failed, deleted.ID, unknown.ID)
		}
		// The live message in the same call was rescheduled all the same.
		if again := receiveN(ctx, t, q.Source, 1)[0]; again.ID != live.ID {
			t.Fatalf("got %s back, want the rescheduled %s", again.ID, live.ID)
		}
	})

	t.Run("Resend sends new copies after their delays, with their attempt counts", func(t *testing.T) {
		t.Parallel()
		q := newQueue(t, 30*time.Second)
		jobs := queueJobs(2)
		jobs[0].Attempts, jobs[0].NotBefore = 4, time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
		delay := 2 * time.Second
		start := time.Now()
		if err := q.Retry.Resend(ctx, []delivery.Resend{{Job: jobs[0], Delay: delay}, {Job: jobs[1]}}); err != nil {
			t.Fatal(err)
		}
		first := receiveN(ctx, t, q.Source, 1)[0]
		if back := decodeJob(t, first); back.ID != jobs[1].ID {
			t.Fatalf("first received %s, want the undelayed %s", back.ID, jobs[1].ID)
		}
		m := receiveN(ctx, t, q.Source, 1)[0]
		if got := time.Since(start); got < delay {
			t.Fatalf("resent job received %s after Resend, before its %s delay", got, delay)
		}
		back := decodeJob(t, m)
		if back.ID != jobs[0].ID || back.Attempts != 4 || !back.NotBefore.Equal(jobs[0].NotBefore) || m.ReceiveCount != 1 {
			t.Fatalf("resent job %+v with receive count %d, want %s with 4 attempts, its not-before, count 1", back, m.ReceiveCount, jobs[0].ID)
		}
	})

	t.Run("Resend refuses a delay SQS refuses", func(t *testing.T) {
		t.Parallel()
		q := newQueue(t, 30*time.Second)
		if err := q.Retry.Resend(ctx, []delivery.Resend{{Job: queueJobs(1)[0], Delay: delivery.MaxDelay + time.Second}}); err == nil {
			t.Fatal("a delay over 15 minutes was accepted")
		}
	})

	t.Run("a job over SQS's 1 MiB message limit is refused, and nothing is queued", func(t *testing.T) {
		t.Parallel()
		q := newQueue(t, 30*time.Second)
		big := queueJobs(2)
		big[1].Payload = json.RawMessage(`"` + strings.Repeat("a", 1<<20) + `"`)
		err := q.Retry.Resend(ctx, []delivery.Resend{{Job: big[0]}, {Job: big[1]}})
		if err == nil || !strings.Contains(err.Error(), "limit") {
			t.Fatalf("Resend of a %d-byte job: %v; want a refusal naming the limit", len(big[1].Payload), err)
		}
		if msgs, err := q.Source.Receive(ctx, 10, 0); err != nil || len(msgs) != 0 {
			t.Fatalf("received %d messages (%v) after a refused send; want none", len(msgs), err)
		}
	})

	// SQS counts a message's 12 hours of visibility from its receive, not from the call that
	// changes it: two seconds after a receive, 12 h less one second is too much, while 12 h less
	// ten seconds fits. (Whole seconds: SQS's unit.)
	t.Run("RetryLater refuses a wait past 12 h from the receive, and leaves the message be", func(t *testing.T) {
		t.Parallel()
		vis := 2 * time.Second
		q := newQueue(t, vis)
		if err := q.Jobs.Enqueue(ctx, queueJobs(2)); err != nil {
			t.Fatal(err)
		}
		msgs := receiveN(ctx, t, q.Source, 2)
		time.Sleep(2 * time.Second)
		tooLong, fits := msgs[0], msgs[1]
		failed, err := q.Retry.RetryLater(ctx, []delivery.Retry{
			{Message: message(tooLong), Wait: delivery.MaxVisibility - time.Second},
			{Message: message(fits), Wait: delivery.MaxVisibility - 10*time.Second},
		})
		if err == nil || len(failed) != 1 || failed[0] != tooLong.ID {
			t.Fatalf("RetryLater: failed %v, %v; want exactly %s refused", failed, err, tooLong.ID)
		}
		// The refused one kept its visibility timeout and comes back; the other stays hidden.
		again := receiveN(ctx, t, q.Source, 1)[0]
		if again.ID != tooLong.ID {
			t.Fatalf("got %s back, want the refused %s", again.ID, tooLong.ID)
		}
		if more := receive(ctx, t, q.Source); len(more) > 0 {
			t.Fatalf("%d messages back, want the 12 h one still hidden", len(more))
		}
		// A new receive starts a new 12 hours.
		failed, err = q.Retry.RetryLater(ctx, []delivery.Retry{{Message: message(again), Wait: delivery.MaxVisibility - 10*time.Second}})
		if err != nil || len(failed) > 0 {
			t.Fatalf("RetryLater after a new receive: failed %v, %v", failed, err)
		}
	})

	t.Run("DeadLetter keeps the body, the reason and the error class", func(t *testing.T) {
		t.Parallel()
		q := newQueue(t, 30*time.Second)
		timedOut, _ := json.Marshal(queueJobs(1)[0])
		invalid := []byte(`{"not": "a job"`)
		if err := q.Retry.DeadLetter(ctx, timedOut, delivery.ReasonAttemptsExhausted, delivery.ClassTimeout); err != nil {
			t.Fatal(err)
		}
		if err := q.Retry.DeadLetter(ctx, invalid, delivery.ReasonInvalidJob, delivery.ClassNone); err != nil {
			t.Fatal(err)
		}
		byBody := map[string]DeadLetter{}
		deadline := time.Now().Add(20 * time.Second)
		for len(byBody) < 2 && time.Now().Before(deadline) {
			for _, d := range q.DeadLetters(t) {
				byBody[d.Body] = d
			}
		}
		want := map[string]map[string]string{
			string(timedOut): {attrReason: delivery.ReasonAttemptsExhausted, attrErrorClass: string(delivery.ClassTimeout)},
			string(invalid):  {attrReason: delivery.ReasonInvalidJob},
		}
		if len(byBody) != len(want) {
			t.Fatalf("dead-letter queue holds %v, want the 2 bodies sent", byBody)
		}
		for body, attrs := range want {
			got, ok := byBody[body]
			if !ok {
				t.Fatalf("body %s is not in the dead-letter queue (it holds %v)", body, byBody)
			}
			if fmt.Sprint(got.Attributes) != fmt.Sprint(attrs) {
				t.Errorf("body %s: attributes %v, want %v", body, got.Attributes, attrs)
			}
		}
	})

	t.Run("a waiting receive returns as soon as a message is sent", func(t *testing.T) {
		t.Parallel()
		q := newQueue(t, 30*time.Second)
		wait := 10 * time.Second
		type result struct {
			msgs []eventsource.Received
			err  error
			at   time.Time
		}
		done := make(chan result, 1)
		go func() {
			msgs, err := q.Source.Receive(ctx, batchMax, wait)
			done <- result{msgs, err, time.Now()}
		}()
		time.Sleep(500 * time.Millisecond) // let the receive start waiting
		sent := time.Now()
		if err := q.Jobs.Enqueue(ctx, queueJobs(1)); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.msgs) != 1 {
			t.Fatalf("the waiting receive returned %d messages, want the 1 sent while it waited", len(r.msgs))
		}
		// Loose: SQS answers a long poll within its own polling granularity.
		if took := r.at.Sub(sent); took > wait/2 {
			t.Fatalf("the waiting receive returned %s after the send; want well under its %s wait", took, wait)
		}
	})
}

func queueJobs(n int) []delivery.Job {
	jobs := make([]delivery.Job, n)
	for i := range jobs {
		jobs[i] = delivery.Job{
			ID: fmt.Sprintf("d-%02d", i), TenantID: "tenant-a", WebhookID: "wh_1", EventType: "task_submitted_event",
			Payload: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`),
		}
	}
	return jobs
}

func decodeJob(t *testing.T, m eventsource.Received) delivery.Job {
	t.Helper()
	job, err := delivery.DecodeJob([]byte(m.Body))
	if err != nil {
		t.Fatalf("message %s: %v", m.ID, err)
	}
	return job
}

func message(m eventsource.Received) delivery.Message {
	return delivery.Message{ID: m.ID, ReceiptHandle: m.ReceiptHandle, Body: []byte(m.Body), ReceiveCount: m.ReceiveCount}
}

// receive is one long-poll receive of up to ten messages.
func receive(ctx context.Context, t *testing.T, src eventsource.Source) []eventsource.Received {
	t.Helper()
	msgs, err := src.Receive(ctx, batchMax, longPoll)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return msgs
}

// receiveN receives until it has n messages, for up to 20 s.
func receiveN(ctx context.Context, t *testing.T, src eventsource.Source, n int) []eventsource.Received {
	t.Helper()
	var got []eventsource.Received
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		got = append(got, receive(ctx, t, src)...)
	}
	if len(got) != n {
		t.Fatalf("received %d messages in 20 s, want %d", len(got), n)
	}
	return got
}
