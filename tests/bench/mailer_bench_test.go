package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/mail"
	"github.com/heraldhq/herald/shared/mailbatch"
)

// countingSender takes every email and keeps only a count: the benchmark measures the mailer
// and its store, not a mail service.
type countingSender struct{ sent atomic.Int64 }

func (s *countingSender) Send(_ context.Context, e mail.Email) error {
	if err := e.Validate(); err != nil {
		return err
	}
	s.sent.Add(1)
	return nil
}

// heapPeak samples the live heap while a run goes on.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	peak atomic.Uint64
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) end() uint64 { close(h.stop); h.done.Wait(); return h.peak.Load() }

// BenchmarkMailerRecipients runs one mailer window over the embedded store with 1,000 and
// 10,000 recipients of 10 lines each, all sent in the one run, and reports the peak live heap
// of each and their ratio: about 1 means memory is flat in the number of recipients (they
// are streamed a page at a time), 10 would mean it grows with them. Run with -benchtime 1x.
func BenchmarkMailerRecipients(b *testing.B) {
	ctx := context.Background()
	peaks := map[int]uint64{}
	for b.Loop() {
		for _, recipients := range []int{1_000, 10_000} {
			db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{Synchronous: "NORMAL"})
			if err != nil {
				b.Fatal(err)
			}
			store, err := sqlitestore.NewMailLines(ctx, db)
			if err != nil {
				b.Fatal(err)
			}
			at := time.Now().UTC()
			batch := make([]mailbatch.Line, 0, 1000)
			for r := range recipients {
				for l := range 10 {
					batch = append(batch, mailbatch.Line{
						ID: fmt.Sprintf("line-%d-%d", r, l), TenantID: "acme", Recipient: fmt.Sprintf("user%05d@example.com", r),
						NotificationID: "ntf_qa", NotificationTitle: "QA alerts", ProjectHash: "proj-1", EventType: "task_submitted",
						Text: "annotator@example.com submitted task 0c7e5a52 from \"Annotate 1\".", OccurredAt: at.Add(time.Duration(l) * time.Second),
					})
				}
				if len(batch) == cap(batch) || r == recipients-1 {
					if _, err := store.AddLines(ctx, batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			sender := &countingSender{}
			m := &mailbatch.Mailer{
				Store: store, Sender: sender, From: "Herald <herald@localhost>", Rate: 1e6, Interval: time.Minute,
				Links:  mailbatch.Links{BaseURL: "http://127.0.0.1:4012", Key: make([]byte, 32)},
				Logger: slog.New(slog.DiscardHandler),
			}
			runtime.GC()
			watch := watchHeap()
			start := time.Now()
			rep, err := m.Run(ctx)
			elapsed := time.Since(start)
			peak := watch.end()
			if err != nil || rep.Sent != recipients || sender.sent.Load() != int64(recipients) {
				b.Fatalf("%d recipients: report %+v, sent %d, %v", recipients, rep, sender.sent.Load(), err)
			}
			peaks[recipients] = peak
			b.ReportMetric(float64(peak)/(1<<20), fmt.Sprintf("peak-heap-MiB-%d", recipients))
			b.ReportMetric(float64(recipients)/elapsed.Seconds(), fmt.Sprintf("emails/s-%d", recipients))
			store.Close()
			db.Close()
		}
	}
	b.ReportMetric(float64(peaks[10_000])/float64(peaks[1_000]), "heap-ratio-10k/1k")
}
