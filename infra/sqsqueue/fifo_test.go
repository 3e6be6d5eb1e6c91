package sqsqueue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// The FIFO contract (tests/contract) runs this package on the SQS stand-in; these tests check
// the requests themselves, which the stand-in cannot show: how a FIFO send is cut into batches
// when SQS fails some entries.

func orderedJob(i int, webhook string) delivery.Job {
	j := job(i)
	j.WebhookID, j.Ordered = webhook, true
	return j
}

// sentOrder returns the job ids of f's accepted entries in the order SQS accepted them, by
// group, and fails the test if a batch held two messages of one group.
func sentOrder(t *testing.T, f *failingSQS, failed func(call int, id string) bool) map[string][]string {
	t.Helper()
	byGroup := map[string][]string{}
	for call, b := range f.sent {
		seen := map[string]bool{}
		for _, e := range b.Entries {
			if seen[e.MessageGroupId] {
				t.Fatalf("call %d holds two messages of group %s: %+v", call, e.MessageGroupId, b.Entries)
			}
			seen[e.MessageGroupId] = true
			if failed(call, e.Id) {
				continue
			}
			byGroup[e.MessageGroupId] = append(byGroup[e.MessageGroupId], e.MessageDeduplicationId)
		}
	}
	return byGroup
}

func TestFIFOSendsAGroupOneMessageABatchInOrder(t *testing.T) {
	t.Parallel()
	cases := map[string]func(call int, id string) bool{
		"every entry accepted": func(int, string) bool { return false },
		// The first entry of the first two calls fails once: it must be sent again, alone of
		// its group, before the next of its group is sent.
		"some entries failed once": func(call int, id string) bool { return (call == 0 || call == 2) && id == "0" },
	}
	for name, failed := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := &failingSQS{fail: func(call int, id string) (bool, bool) { return failed(call, id), false }}
			_, fifo := queuesOver(t, f)
			var jobs []delivery.Job
			for i := range 4 {
				jobs = append(jobs, orderedJob(i, "a"))
			}
			jobs = append(jobs, orderedJob(10, "b"), orderedJob(11, "b"), orderedJob(20, "c"))
			if err := fifo.Enqueue(context.Background(), jobs); err != nil {
				t.Fatal(err)
			}
			got := sentOrder(t, f, failed)
			want := map[string][]string{
				orderedJob(0, "a").OrderGroup(): {"d-00", "d-01", "d-02", "d-03"},
				orderedJob(0, "b").OrderGroup(): {"d-10", "d-11"},
				orderedJob(0, "c").OrderGroup(): {"d-20"},
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("accepted by group %v, want %v", got, want)
			}
			for _, b := range f.sent {
				if !strings.HasSuffix(b.QueueUrl, "/q.fifo") {
					t.Fatalf("sent to %s, want the FIFO queue", b.QueueUrl)
				}
			}
			// The group of four takes four batches when nothing fails; one more per failure.
			if wantCalls := map[bool]int{false: 4, true: 6}[name != "every entry accepted"]; len(f.sent) != wantCalls {
				t.Fatalf("%d calls, want %d: %+v", len(f.sent), wantCalls, f.sent)
			}
		})
	}
}

func TestFIFORefusesADelayAndSendsNothing(t *testing.T) {
	t.Parallel()
	f := &failingSQS{fail: func(int, string) (bool, bool) { return false, false }}
	std, fifo := queuesOver(t, f)
	err := fifo.Resend(context.Background(), []delivery.Resend{{Job: orderedJob(1, "a")}, {Job: orderedJob(2, "a"), Delay: time.Second}})
	if err == nil || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("Resend with a delay on a FIFO queue: %v, want it refused", err)
	}
	err = std.WithOrdered(fifo).Resend(context.Background(), []delivery.Resend{{Job: job(3)}, {Job: orderedJob(2, "a"), Delay: time.Second}})
	if err == nil {
		t.Fatal("Resend of an ordered job with a delay through WithOrdered was accepted")
	}
	if len(f.sent) > 0 {
		t.Fatalf("refused resends sent %+v", f.sent)
	}
}

func TestOrderedJobsGoToTheOrderedQueueOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := &failingSQS{fail: func(int, string) (bool, bool) { return false, false }}
	std, fifo := queuesOver(t, f)
	if err := std.Enqueue(ctx, []delivery.Job{job(1), orderedJob(2, "a")}); err == nil || !strings.Contains(err.Error(), "ordered queue") {
		t.Fatalf("an ordered job without an ordered queue: %v, want an error naming it", err)
	}
	if err := std.WithOrdered(std).Enqueue(ctx, []delivery.Job{orderedJob(2, "a")}); err == nil || !strings.Contains(err.Error(), "not a FIFO queue") {
		t.Fatalf("an ordered queue that is not FIFO: %v, want it refused", err)
	}
	if len(f.sent) > 0 {
		t.Fatalf("refused jobs sent %+v", f.sent)
	}
	routed := std.WithOrdered(fifo)
	if err := routed.Enqueue(ctx, []delivery.Job{job(1), orderedJob(2, "a"), job(3), orderedJob(4, "a")}); err != nil {
		t.Fatal(err)
	}
	byQueue := map[string][]string{}
	for _, b := range f.sent {
		url := b.QueueUrl[strings.LastIndex(b.QueueUrl, "/")+1:]
		for _, e := range b.Entries {
			j, err := delivery.DecodeJob([]byte(e.MessageBody))
			if err != nil {
				t.Fatal(err)
			}
			byQueue[url] = append(byQueue[url], j.ID)
			if (url == "q.fifo") != (e.MessageGroupId != "") {
				t.Fatalf("entry %+v to %s", e, url)
			}
		}
	}
	if fmt.Sprint(byQueue) != "map[q:[d-01 d-03] q.fifo:[d-02 d-04]]" {
		t.Fatalf("sent %v, want the plain jobs to q and the ordered ones, in order, to q.fifo", byQueue)
	}
}
