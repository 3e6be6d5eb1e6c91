package localqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localqueue"
)

// BenchmarkSendReceiveDelete measures the queue's throughput, one message sent, received and
// deleted per op, on a database file with synchronous=FULL (every commit is fsynced, which
// dominates). "batch" is messages per Send, Receive and Delete (Lambda's default batch is
// 10); "backlog" is how many other messages, delayed and so invisible, sit in the same queue,
// to show that Receive does not slow down as the table grows.
func BenchmarkSendReceiveDelete(b *testing.B) {
	for _, bc := range []struct{ batch, backlog int }{{1, 0}, {10, 0}, {10, 100_000}} {
		b.Run(fmt.Sprintf("batch=%d/backlog=%d", bc.batch, bc.backlog), func(b *testing.B) {
			ctx := context.Background()
			db := openDB(b)
			q := newQueue(b, db, "work", localqueue.Options{})
			fill := make([]localqueue.Outgoing, 1000)
			for i := range fill {
				fill[i] = localqueue.Outgoing{Body: []byte(`{"backlog":true}`), Delay: localqueue.MaxDelay}
			}
			for n := 0; n < bc.backlog; n += len(fill) {
				if err := q.Send(ctx, fill); err != nil {
					b.Fatal(err)
				}
			}
			body := []byte(`{"id":"d-0001","tenant_id":"t","webhook_id":"w","event_type":"task_submitted_event","payload":{"n":1}}`)
			out := make([]localqueue.Outgoing, bc.batch)
			for i := range out {
				out[i] = localqueue.Outgoing{Body: body}
			}
			b.ResetTimer()
			for done := 0; done < b.N; done += bc.batch {
				if err := q.Send(ctx, out); err != nil {
					b.Fatal(err)
				}
				msgs, err := q.Receive(ctx, bc.batch, time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if len(msgs) != bc.batch {
					b.Fatalf("received %d messages, want %d", len(msgs), bc.batch)
				}
				if err := q.Delete(ctx, msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkSendToWaitingReceiver measures the queue's share of the single-machine runtime's
// event-to-receiver latency (target: p99 ≤ 50 ms): from before Send to a long-polling
// receiver holding the message.
func BenchmarkSendToWaitingReceiver(b *testing.B) {
	q := newQueue(b, openDB(b), "work", localqueue.Options{})
	b.ResetTimer()
	lat := sendToWaitingReceiver(b, q, b.N)
	b.StopTimer()
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
