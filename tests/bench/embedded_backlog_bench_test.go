package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// backlogJobs is the larger backlog of BenchmarkEmbeddedBacklogDrain: a million jobs fill in
// 19 s and drain in 2.5 min on a 2-core machine. HERALD_BACKLOG_JOBS overrides it for a
// quicker look.
const backlogJobs = 1_000_000

// BenchmarkEmbeddedBacklogDrain fills the embedded default's delivery queue with a backlog of
// jobs for one webhook while Herald is down (a receiver that was away, a Herald stopped for a
// day), starts Herald on it and lets it drain to a loopback receiver. It runs a tenth of the
// backlog and then the whole of it, and samples the process's Go heap (HeapInuse) and resident
// set (VmRSS, which also holds SQLite's page cache) four times a second during the drain. It reports the
// drain rate, the peak heap and RSS, and their ratio from the first tenth of the drain to its
// last: memory that grew with the backlog would be ten times higher in the larger run and would
// fall as the queue empties; flat memory is the same in both and from start to end. The load
// generator is not running; the receiver shares the process. Run with -benchtime 1x.
func BenchmarkEmbeddedBacklogDrain(b *testing.B) {
	total := envInt(b, "HERALD_BACKLOG_JOBS", backlogJobs)
	for _, n := range []int{total / 10, total} {
		b.Run(fmt.Sprintf("jobs=%d", n), func(b *testing.B) {
			for range b.N {
				drainBacklog(b, n)
			}
		})
	}
}

// sampleEvery: ReadMemStats stops the world for tens of microseconds, nothing at 4 Hz.
const sampleEvery = 250 * time.Millisecond

type memSample struct {
	at        time.Duration
	delivered int64
	heap, rss uint64 // bytes
}

func drainBacklog(b *testing.B, jobs int) {
	ctx := context.Background()
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		b.Fatal(err)
	}
	// Each job's id carries its number, so the receiver keeps four bytes per job, allocated
	// before the drain (and in its "before start" heap), and counts each job once however
	// often at-least-once delivers it.
	seen := make([]atomic.Bool, jobs)
	var delivered, duplicates atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n, err := strconv.Atoi(strings.TrimPrefix(r.Header.Get(signing.HeaderID), "job-"))
		if err != nil || n < 0 || n >= jobs {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if seen[n].Swap(true) {
			duplicates.Add(1)
		} else {
			delivered.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	dir := b.TempDir()
	fill := time.Now()
	fillBacklog(b, dir, receiver.URL+"/hook", jobs)
	b.Logf("filled the delivery queue with %d jobs in %s", jobs, time.Since(fill).Round(time.Millisecond))

	runtime.GC()
	before := sampleMemory(b)
	b.ResetTimer()
	start := time.Now()
	h, err := localrun.Start(ctx, localrun.Config{
		DataDir: dir, Template: tmpl, EventsAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", AllowLoopback: true, Synchronous: benchSync, Pollers: benchPollers,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer closeHerald(b, h)

	var samples []memSample
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	stalled, last := time.Now(), int64(0)
	for delivered.Load() < int64(jobs) {
		<-tick.C
		s := sampleMemory(b)
		s.at, s.delivered = time.Since(start), delivered.Load()
		samples = append(samples, s)
		if s.delivered > last {
			stalled, last = time.Now(), s.delivered
		} else if time.Since(stalled) > time.Minute {
			b.Fatalf("no delivery for a minute: %d of %d delivered", s.delivered, jobs)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	// The first and last tenth of the drain's samples.
	var firstHeap, lastHeap, firstRSS, lastRSS, peakHeap, peakRSS uint64
	tenth := max(1, len(samples)/10)
	for i, s := range samples {
		peakHeap, peakRSS = max(peakHeap, s.heap), max(peakRSS, s.rss)
		if i < tenth {
			firstHeap, firstRSS = max(firstHeap, s.heap), max(firstRSS, s.rss)
		}
		if i >= len(samples)-tenth {
			lastHeap, lastRSS = max(lastHeap, s.heap), max(lastRSS, s.rss)
		}
	}
	rate := float64(jobs) / elapsed.Seconds()
	b.ReportMetric(rate, "delivered/s")
	b.ReportMetric(elapsed.Seconds(), "drain_s")
	b.ReportMetric(mib(peakHeap), "peak_heap_MiB")
	b.ReportMetric(mib(peakRSS), "peak_rss_MiB")
	if firstRSS > 0 && lastRSS > 0 {
		b.ReportMetric(float64(lastRSS)/float64(firstRSS), "rss_last/first")
		b.ReportMetric(float64(lastHeap)/float64(firstHeap), "heap_last/first")
	}
	b.Logf("drained %d jobs in %s (%.0f deliveries/s, %d duplicates); before start heap %.1f MiB, RSS %.1f MiB; peak heap %.1f MiB, RSS %.1f MiB; first tenth heap %.1f, RSS %.1f MiB; last tenth heap %.1f, RSS %.1f MiB",
		jobs, elapsed.Round(time.Millisecond), rate, duplicates.Load(), mib(before.heap), mib(before.rss), mib(peakHeap), mib(peakRSS),
		mib(firstHeap), mib(firstRSS), mib(lastHeap), mib(lastRSS))
	// Ten samples across the drain, on one line: go test keeps ten lines of a benchmark's log.
	var line strings.Builder
	for i := range min(10, len(samples)) {
		s := samples[(i+1)*len(samples)/min(10, len(samples))-1]
		fmt.Fprintf(&line, "  [%.0f s, %d delivered, heap %.1f MiB, RSS %.1f MiB]", s.at.Seconds(), s.delivered, mib(s.heap), mib(s.rss))
	}
	b.Logf("samples:%s", line.String())
}

// fillBacklog creates the webhook and queues jobs for it, 1,000 per transaction, on the
// queue the delivery function polls, in a database Herald then opens.
func fillBacklog(b *testing.B, dir, url string, jobs int) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, dir, sqlitedb.Options{Synchronous: benchSync})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	secret, _ := signing.NewSecret()
	now := time.Now()
	if err := store.CreateWebhook(ctx, stagehooks.Webhook{
		ID: "wh_bench", TenantID: "acme", OwnerID: "bench", ProjectHash: "751a3a3e-46b6-4aad-b0b8-19b169f91266",
		StageUUID: "a1b2c3d4-0000-4000-8000-00000000a001", StageType: stagehooks.StageAnnotate, URL: url,
		Secrets: []string{secret}, Enabled: true, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		b.Fatal(err)
	}
	// template.yaml's delivery queue, by its logical id.
	q, err := localqueue.New(ctx, db, "DeliveryQueue", localqueue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1,"source":"Encord","event_type":"task_submitted_event","event_created_timestamp":"2024-03-25T15:18:55.406529+00:00","payload":{"project_hash":"751a3a3e-46b6-4aad-b0b8-19b169f91266","data_hashes":["f0b012de-5aea-4457-b515-936b0c185771"],"label_hashes":["fdb9a21f-d9a7-48b5-9dac-dfe3e0e2c57f"]}}`)
	const perTx = 1000
	batch := make([]delivery.Job, 0, perTx)
	for i := range jobs {
		batch = append(batch, delivery.Job{ID: fmt.Sprintf("job-%d", i), TenantID: "acme", WebhookID: "wh_bench", EventType: "task_submitted_event", Payload: payload})
		if len(batch) == perTx || i == jobs-1 {
			if err := q.Enqueue(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// sampleMemory reads the Go heap in use and the resident set of the process.
func sampleMemory(b *testing.B) memSample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapInuse, rss: residentSet(b)}
}

var rssOnce sync.Once

// residentSet is VmRSS from /proc/self/status, in bytes; zero where there is no /proc.
func residentSet(b *testing.B) uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		rssOnce.Do(func() { b.Logf("no resident set size: %v", err) })
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
