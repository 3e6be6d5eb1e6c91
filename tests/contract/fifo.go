package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/shared/delivery"
)

// FIFOQueuesUnderTest are the queues of ordered delivery: a FIFO queue with its FIFO
// dead-letter queue, and a standard queue beside it.
type FIFOQueuesUnderTest struct {
	// FIFO is the FIFO queue; its DeadLetters reads (and removes) what reached its FIFO
	// dead-letter queue.
	FIFO QueueUnderTest
	// Standard is a standard queue with no ordered queue; Routed is the same queue sending
	// ordered jobs to FIFO (WithOrdered). The Source of both is the standard queue's.
	Standard, Routed QueueUnderTest
}

// TestFIFOQueue runs the ordered-delivery contract against fresh, empty queues per subtest,
// whose visibility timeout is visibility (whole seconds). The timing rule of TestQueue holds.
func TestFIFOQueue(t *testing.T, newQueues func(t *testing.T, visibility time.Duration) FIFOQueuesUnderTest) {
	ctx := context.Background()

	t.Run("a group's jobs are received in send order across sends, and each group on its own", func(t *testing.T) {
		t.Parallel()
		q := newQueues(t, 30*time.Second).FIFO
		a, b, c := fifoJobs("a", 12), fifoJobs("b", 3), fifoJobs("c", 1)
		sends := []func() error{
			func() error { return q.Jobs.Enqueue(ctx, []delivery.Job{a[0], b[0], a[1]}) },
			func() error { return q.Jobs.Enqueue(ctx, []delivery.Job{c[0], a[2], b[1]}) },
			func() error { return q.Retry.Resend(ctx, []delivery.Resend{{Job: a[3]}, {Job: b[2]}}) },
			// More of one group than a batch holds.
			func() error { return q.Jobs.Enqueue(ctx, a[4:]) },
		}
		for _, send := range sends {
			if err := send(); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string][]string{}
		n := 0
		deadline := time.Now().Add(30 * time.Second)
		for n < len(a)+len(b)+len(c) && time.Now().Before(deadline) {
			msgs := receive(ctx, t, q.Source)
			for _, m := range msgs {
				job := decodeJob(t, m)
				got[job.WebhookID] = append(got[job.WebhookID], job.ID)
				n++
			}
			// Deleted once handled, as the poller does: the group's next ones come after.
			if err := q.Source.Delete(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range [][]delivery.Job{a, b, c} {
			if group := want[0].WebhookID; !slices.Equal(got[group], jobIDs(want)) {
				t.Errorf("group %s received as %v, want %v", group, got[group], jobIDs(want))
			}
		}
	})

	t.Run("a group waits while its head is in flight, and the other groups flow", func(t *testing.T) {
		t.Parallel()
		q := newQueues(t, 30*time.Second).FIFO
		a, b := fifoJobs("a", 2), fifoJobs("b", 2)
		if err := q.Jobs.Enqueue(ctx, a[:1]); err != nil {
			t.Fatal(err)
		}
		head := receiveN(ctx, t, q.Source, 1)[0]
		wait := 3 * time.Second
		start := time.Now()
		if failed, err := q.Retry.RetryLater(ctx, []delivery.Retry{{Message: message(head), Wait: wait}}); err != nil || len(failed) > 0 {
			t.Fatalf("RetryLater: failed %v, %v", failed, err)
		}
		if err := q.Jobs.Enqueue(ctx, []delivery.Job{a[1], b[0], b[1]}); err != nil {
			t.Fatal(err)
		}
		var order []string
		var headBack, bDone time.Time
		deadline := time.Now().Add(20 * time.Second)
		for len(order) < 4 && time.Now().Before(deadline) {
			msgs := receive(ctx, t, q.Source)
			for _, m := range msgs {
				job := decodeJob(t, m)
				order = append(order, job.ID)
				switch job.ID {
				case a[0].ID:
					headBack = time.Now()
					if back := headBack.Sub(start); back < wait {
						t.Fatalf("head came back %s after RetryLater, before its %s wait", back, wait)
					}
					if m.ReceiveCount != 2 {
						t.Errorf("head's receive count %d, want 2", m.ReceiveCount)
					}
				case a[1].ID:
					if headBack.IsZero() {
						t.Fatalf("%s was received while the head of its group was in flight (order %v)", job.ID, order)
					}
				case b[1].ID:
					bDone = time.Now()
				}
			}
			if err := q.Source.Delete(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{b[0].ID, b[1].ID, a[0].ID, a[1].ID}
		if !slices.Equal(order, want) {
			t.Fatalf("received %v, want %v: group b while group a waits, then a in order", order, want)
		}
		if !bDone.Before(headBack) {
			t.Fatalf("group b was done at %v, after group a's head came back at %v: it waited for another group", bDone, headBack)
		}
	})

	t.Run("the rest of a group's batch put back with no wait comes after its head", func(t *testing.T) {
		t.Parallel()
		q := newQueues(t, 30*time.Second).FIFO
		a := fifoJobs("a", 3)
		if err := q.Jobs.Enqueue(ctx, a); err != nil {
			t.Fatal(err)
		}
		// A receive may hand out consecutive messages of a group: the processor's batch.
		batch := receiveN(ctx, t, q.Source, 3)
		if ids := receivedIDs(t, batch); !slices.Equal(ids, jobIDs(a)) {
			t.Fatalf("received %v, want %v", ids, jobIDs(a))
		}
		// The head waits for its retry; the others go back at once, one call each and the
		// last first, so that they are visible again in the reverse of their order.
		wait := 2 * time.Second
		start := time.Now()
		retryLater(ctx, t, q, batch[0], wait)
		retryLater(ctx, t, q, batch[2], 0)
		retryLater(ctx, t, q, batch[1], 0)
		got := receiveN(ctx, t, q.Source, 3)
		if back := time.Since(start); back < wait {
			t.Fatalf("the group came back %s after RetryLater, before its head's %s wait", back, wait)
		}
		if ids := receivedIDs(t, got); !slices.Equal(ids, jobIDs(a)) {
			t.Fatalf("after the head's wait: %v, want %v", ids, jobIDs(a))
		}
		// All back with no wait: at once, well within the visibility timeout, in send order.
		start = time.Now()
		for _, i := range []int{2, 1, 0} {
			retryLater(ctx, t, q, got[i], 0)
		}
		again := receiveN(ctx, t, q.Source, 3)
		if back := time.Since(start); back > 10*time.Second {
			t.Fatalf("messages put back with no wait came back after %s", back)
		}
		if ids := receivedIDs(t, again); !slices.Equal(ids, jobIDs(a)) {
			t.Fatalf("after a wait of 0: %v, want %v", ids, jobIDs(a))
		}
	})

	t.Run("a job sent twice is queued once", func(t *testing.T) {
		t.Parallel()
		q := newQueues(t, 30*time.Second).FIFO
		a := fifoJobs("a", 2)
		// A retried router invocation sends the same job again; so may a retried Resend.
		if err := q.Jobs.Enqueue(ctx, a[:1]); err != nil {
			t.Fatal(err)
		}
		if err := q.Jobs.Enqueue(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := q.Retry.Resend(ctx, []delivery.Resend{{Job: a[0]}}); err != nil {
			t.Fatal(err)
		}
		var ids []string
		deadline := time.Now().Add(20 * time.Second)
		for len(ids) < 2 && time.Now().Before(deadline) {
			msgs := receive(ctx, t, q.Source)
			ids = append(ids, receivedIDs(t, msgs)...)
			if err := q.Source.Delete(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		}
		// With each one deleted, a duplicate would be next in the group.
		for range 2 {
			msgs := receive(ctx, t, q.Source)
			ids = append(ids, receivedIDs(t, msgs)...)
		}
		if want := jobIDs(a); !slices.Equal(ids, want) {
			t.Fatalf("received %v, want %v: each job once, in order", ids, want)
		}
	})

	t.Run("a FIFO queue refuses a delay and sends nothing", func(t *testing.T) {
		t.Parallel()
		qs := newQueues(t, 30*time.Second)
		a := fifoJobs("a", 2)
		err := qs.FIFO.Retry.Resend(ctx, []delivery.Resend{{Job: a[0]}, {Job: a[1], Delay: 2 * time.Second}})
		if err == nil {
			t.Fatal("Resend with a delay on a FIFO queue was accepted")
		}
		if err := qs.Routed.Retry.Resend(ctx, []delivery.Resend{{Job: a[0], Delay: time.Second}}); err == nil {
			t.Fatal("Resend of an ordered job with a delay through the standard queue was accepted")
		}
		time.Sleep(2 * time.Second) // the delay asked for, had it been taken
		if got := receive(ctx, t, qs.FIFO.Source); len(got) > 0 {
			t.Fatalf("refused resends queued %v", receivedIDs(t, got))
		}
	})

	t.Run("ordered jobs go to the FIFO queue through WithOrdered, and are refused without it", func(t *testing.T) {
		t.Parallel()
		qs := newQueues(t, 30*time.Second)
		ordered, plain := fifoJobs("ordered", 4), queueJobs(3)
		if err := qs.Standard.Jobs.Enqueue(ctx, []delivery.Job{plain[2], ordered[3]}); err == nil || !strings.Contains(err.Error(), "ordered") {
			t.Fatalf("Enqueue of an ordered job with no ordered queue: %v, want an error naming the ordered queue", err)
		}
		if err := qs.Standard.Retry.Resend(ctx, []delivery.Resend{{Job: ordered[3]}}); err == nil || !strings.Contains(err.Error(), "ordered") {
			t.Fatalf("Resend of an ordered job with no ordered queue: %v, want an error naming the ordered queue", err)
		}
		if err := qs.Routed.Jobs.Enqueue(ctx, []delivery.Job{plain[0], ordered[0], plain[1], ordered[1]}); err != nil {
			t.Fatal(err)
		}
		if err := qs.Routed.Retry.Resend(ctx, []delivery.Resend{{Job: ordered[2]}}); err != nil {
			t.Fatal(err)
		}
		var inFIFO []string
		deadline := time.Now().Add(20 * time.Second)
		for len(inFIFO) < 3 && time.Now().Before(deadline) {
			msgs := receive(ctx, t, qs.FIFO.Source)
			inFIFO = append(inFIFO, receivedIDs(t, msgs)...)
			if err := qs.FIFO.Source.Delete(ctx, msgs); err != nil {
				t.Fatal(err)
			}
		}
		if want := jobIDs(ordered[:3]); !slices.Equal(inFIFO, want) {
			t.Fatalf("FIFO queue received %v, want %v", inFIFO, want)
		}
		inStandard := receivedIDs(t, receiveN(ctx, t, qs.Standard.Source, 2))
		inStandard = append(inStandard, receivedIDs(t, receive(ctx, t, qs.Standard.Source))...)
		slices.Sort(inStandard)
		if want := jobIDs(plain[:2]); !slices.Equal(inStandard, want) {
			t.Fatalf("standard queue received %v, want only %v (refused calls send nothing)", inStandard, want)
		}
	})

	t.Run("DeadLetter from a FIFO queue reaches its FIFO dead-letter queue once, with the reason", func(t *testing.T) {
		t.Parallel()
		q := newQueues(t, 30*time.Second).FIFO
		exhausted, _ := json.Marshal(fifoJobs("a", 1)[0])
		invalid := []byte(`{"not": "a job"`)
		// The second send of the same body is what a retried dead-letter send looks like.
		for _, body := range [][]byte{exhausted, invalid, exhausted} {
			reason, class := delivery.ReasonAttemptsExhausted, delivery.ClassTimeout
			if string(body) == string(invalid) {
				reason, class = delivery.ReasonInvalidJob, delivery.ClassNone
			}
			if err := q.Retry.DeadLetter(ctx, body, reason, class); err != nil {
				t.Fatal(err)
			}
		}
		var got []DeadLetter
		deadline := time.Now().Add(20 * time.Second)
		for len(got) < 2 && time.Now().Before(deadline) {
			got = append(got, q.DeadLetters(t)...)
		}
		// Once read (and removed), a duplicate would be next in its group.
		for range 2 {
			got = append(got, q.DeadLetters(t)...)
		}
		want := map[string]map[string]string{
			string(exhausted): {attrReason: delivery.ReasonAttemptsExhausted, attrErrorClass: string(delivery.ClassTimeout)},
			string(invalid):   {attrReason: delivery.ReasonInvalidJob},
		}
		if len(got) != len(want) {
			t.Fatalf("dead-letter queue held %d messages (%v), want the 2 bodies once each", len(got), got)
		}
		for _, d := range got {
			attrs, ok := want[d.Body]
			if !ok {
				t.Fatalf("unexpected dead letter %s", d.Body)
			}
			if fmt.Sprint(d.Attributes) != fmt.Sprint(attrs) {
				t.Errorf("body %s: attributes %v, want %v", d.Body, d.Attributes, attrs)
			}
		}
	})
}

// fifoJobs returns n ordered jobs of one webhook, whose id is also their group's name here.
func fifoJobs(webhook string, n int) []delivery.Job {
	jobs := make([]delivery.Job, n)
	for i := range jobs {
		jobs[i] = delivery.Job{
			ID: fmt.Sprintf("%s-%02d", webhook, i), TenantID: "tenant-a", WebhookID: webhook, EventType: "task_submitted_event",
			Payload: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`), Ordered: true,
		}
	}
	return jobs
}

func jobIDs(jobs []delivery.Job) []string {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

func receivedIDs(t *testing.T, msgs []eventsource.Received) []string {
	t.Helper()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = decodeJob(t, m).ID
	}
	return ids
}

func retryLater(ctx context.Context, t *testing.T, q QueueUnderTest, m eventsource.Received, wait time.Duration) {
	t.Helper()
	if failed, err := q.Retry.RetryLater(ctx, []delivery.Retry{{Message: message(m), Wait: wait}}); err != nil || len(failed) > 0 {
		t.Fatalf("RetryLater %s by %s: failed %v, %v", m.ID, wait, failed, err)
	}
}
