package localqueue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/sqlitedb"
)

// BenchmarkFIFOReceiveBehindAHeldGroup measures what a group held by its head in flight costs
// the other groups of a FIFO queue: the receive of one message of another group (its send and
// delete are not timed), while "held" messages of the held group wait, visible, behind their
// head (sent first, so every receive steps over them; see the package doc). synchronous=NORMAL
// leaves the fsync of the receive's commit, which is the same whatever waits, out of it.
func BenchmarkFIFOReceiveBehindAHeldGroup(b *testing.B) {
	for _, held := range []int{0, 1_000, 10_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{Synchronous: "NORMAL"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			q := newQueue(b, db, "fifo", localqueue.Options{FIFO: true})
			if held > 0 {
				fill := make([]localqueue.Outgoing, 1000)
				for n := 0; n <= held; n += len(fill) {
					for i := range fill {
						fill[i] = grouped("held", fmt.Sprintf("held-%d", n+i))
					}
					if err := q.Send(ctx, fill); err != nil {
						b.Fatal(err)
					}
				}
				head, err := q.Receive(ctx, 1, 0)
				if err != nil || len(head) != 1 {
					b.Fatalf("receive the head: %v, %v", head, err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if err := q.Send(ctx, []localqueue.Outgoing{grouped("flowing", fmt.Sprintf("m-%d", i))}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				msgs, err := q.Receive(ctx, 10, time.Second)
				if err != nil || len(msgs) != 1 {
					b.Fatalf("received %d messages, %v; want the 1 sent", len(msgs), err)
				}
				b.StopTimer()
				if err := q.Delete(ctx, msgs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
