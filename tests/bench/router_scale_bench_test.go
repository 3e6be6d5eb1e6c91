package bench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
)

// The table sizes BenchmarkRouterTableSize grows through, in stage webhooks, ten per project
// (one stage each): 100,000 is 10,000 projects.
var routerTableSizes = []int{100, 10_000, 100_000}

const (
	// hooksPerStage is how many webhooks each project's one stage has, so each lookup must
	// return exactly this many.
	hooksPerStage = 10
	// routerLookups is how many lookups are timed at each size, each on a random project:
	// 300 gives a p99 from the third-slowest, not from the single slowest.
	routerLookups = 300
	// routerWarmup lookups run before the timed ones at each size, so the first timed lookup
	// does not pay for a new connection.
	routerWarmup = 20
	// createWriters is how many goroutines write DynamoDB Local's webhooks once one
	// CreateWebhook is measured above 1 ms: the item shape and keys are the store's own
	// (unexported), so the store writes them, in parallel.
	createWriters = 16
	routerTenant  = "acme"
)

// routerBackend is one adapter under test: the store as the router sees it, and a way to add
// webhooks to its table.
type routerBackend struct {
	name   string
	lookup stagehooks.TargetFinder
	create func(context.Context, stagehooks.Webhook) error
	// writers is the parallelism of the setup writes; 0 decides from the first creates' time.
	writers int
	// counted reports the DynamoDB requests the lookup store has sent so far and how many
	// were Queries; nil where there is nothing to count (SQLite is in-process).
	counted func() (total, queries int)
}

// routerResult is one backend at one size.
type routerResult struct {
	backend           string
	size              int
	p50, p99          time.Duration
	requestsPerLookup float64 // -1 when not counted
	setup             time.Duration
}

// BenchmarkRouterTableSize shows that the router's one lookup per event, TargetsForStage,
// costs the same whatever the webhooks table holds: on DynamoDB Local (through the stand-in)
// and on the embedded SQLite store, the table grows to 100, 10,000 and 100,000 stage webhooks
// (ten per project, one stage each, so 10 to 10,000 projects), and at each size 300 uncached
// lookups of random projects' stages are timed. It reports p50 and p99 per size, DynamoDB
// requests per lookup, and p50 at 100,000 over p50 at 100. It fails only on correctness:
// every lookup returns its stage's ten webhooks, and on DynamoDB it is one request, a Query,
// at every size. Timing is reported, never asserted. Run with -benchtime 1x; the DynamoDB
// setup writes 100,000 webhooks and takes minutes.
func BenchmarkRouterTableSize(b *testing.B) {
	// Each backend logs its own table: a parent benchmark's log is not printed once it has
	// sub-benchmarks, and a benchmark's log is cut after 10 lines without -v.
	for _, backend := range []struct {
		name string
		open func(*testing.B) routerBackend
	}{{"sqlite", newSqliteRouterBackend}, {"dynamodb", newDynamoRouterBackend}} {
		b.Run(backend.name, func(b *testing.B) {
			var results []routerResult
			for b.Loop() {
				results = runRouterTableSize(b, backend.open(b))
			}
			b.Logf("router lookup (TargetsForStage) by table size, %d uncached lookups of random projects per size:\n%s", routerLookups, routerTable(results))
		})
	}
}

func newSqliteRouterBackend(b *testing.B) routerBackend {
	ctx := context.Background()
	// synchronous=NORMAL only spares the setup's 100,000 commits an fsync each; the lookups
	// are reads, which the pragma does not touch.
	db, err := sqlitedb.Open(ctx, b.TempDir(), sqlitedb.Options{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	store, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	// SQLite serialises writers, so parallel creates would only queue.
	return routerBackend{name: "sqlite", lookup: store, create: store.CreateWebhook, writers: 1}
}

func newDynamoRouterBackend(b *testing.B) routerBackend {
	be := awsfixture.New(b, awsfixture.Options{})
	counter := awsfixture.NewRequestCounter()
	return routerBackend{
		name:    "dynamodb",
		lookup:  dynamo.NewWebhookStore(be.Clients(counter).DynamoDB, be.WebhooksTable),
		create:  dynamo.NewWebhookStore(be.Admin().DynamoDB, be.WebhooksTable).CreateWebhook,
		counted: func() (int, int) { return counter.Total(), counter.Get("DynamoDB.Query") },
	}
}

// runRouterTableSize grows be's table through routerTableSizes and measures the lookups at
// each size.
func runRouterTableSize(b *testing.B, be routerBackend) []routerResult {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 6))
	var results []routerResult
	have := 0
	for _, size := range routerTableSizes {
		start := time.Now()
		growRouterTable(ctx, b, &be, have, size)
		setup := time.Since(start)
		have = size
		projects := size / hooksPerStage

		for range routerWarmup {
			lookupStage(ctx, b, be, rng.IntN(projects))
		}
		var total0, queries0 int
		if be.counted != nil {
			total0, queries0 = be.counted()
		}
		latencies := make([]time.Duration, routerLookups)
		for i := range latencies {
			p := rng.IntN(projects)
			var before int
			if be.counted != nil {
				before, _ = be.counted()
			}
			latencies[i] = lookupStage(ctx, b, be, p)
			if be.counted != nil {
				if after, _ := be.counted(); after-before != 1 {
					b.Fatalf("%s, %d webhooks: lookup of project %d sent %d DynamoDB requests, want 1", be.name, size, p, after-before)
				}
			}
		}
		r := routerResult{backend: be.name, size: size, setup: setup, requestsPerLookup: -1}
		if be.counted != nil {
			total, queries := be.counted()
			if queries-queries0 != routerLookups || total-total0 != routerLookups {
				b.Fatalf("%s, %d webhooks: %d lookups sent %d requests, %d of them Queries; want one Query each", be.name, size, routerLookups, total-total0, queries-queries0)
			}
			r.requestsPerLookup = float64(total-total0) / routerLookups
		}
		slices.Sort(latencies)
		r.p50, r.p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
		results = append(results, r)
		b.ReportMetric(float64(r.p50.Microseconds()), fmt.Sprintf("p50-µs@%d", size))
		b.ReportMetric(float64(r.p99.Microseconds()), fmt.Sprintf("p99-µs@%d", size))
		if r.requestsPerLookup >= 0 {
			b.ReportMetric(r.requestsPerLookup, fmt.Sprintf("requests/lookup@%d", size))
		}
	}
	first, last := results[0], results[len(results)-1]
	b.ReportMetric(float64(last.p50)/float64(first.p50), fmt.Sprintf("p50-ratio-%d/%d", last.size, first.size))
	return results
}

// growRouterTable adds the webhooks of projects from/10 to to/10 (exclusive): ten per project,
// all on its one stage, each with its own URL (a stage refuses a URL twice).
func growRouterTable(ctx context.Context, b *testing.B, be *routerBackend, from, to int) {
	hooks := make([]stagehooks.Webhook, 0, to-from)
	for n := from; n < to; n++ {
		p := n / hooksPerStage
		hooks = append(hooks, contract.NewWebhook(b, routerTenant, webhookIDOf(n), projectOf(p), stageOf(p),
			stagehooks.StageAnnotate, fmt.Sprintf("https://hooks.example.com/%s/%d", projectOf(p), n%hooksPerStage)))
	}
	if be.writers == 0 {
		// Time a few hundred creates one at a time; if each takes over 1 ms, write the rest in
		// parallel, or 100,000 of them would take minutes more.
		first := min(len(hooks), 200)
		start := time.Now()
		writeHooks(ctx, b, be.create, hooks[:first], 1)
		each := time.Since(start) / time.Duration(first)
		be.writers = 1
		if each > time.Millisecond {
			be.writers = createWriters
		}
		b.Logf("%s: one CreateWebhook takes %s; writing with %d goroutines", be.name, each.Round(time.Microsecond), be.writers)
		hooks = hooks[first:]
	}
	writeHooks(ctx, b, be.create, hooks, be.writers)
}

// writeHooks creates hooks with writers goroutines and fails on the first error.
func writeHooks(ctx context.Context, b *testing.B, create func(context.Context, stagehooks.Webhook) error, hooks []stagehooks.Webhook, writers int) {
	next := make(chan stagehooks.Webhook)
	errs := make(chan error, writers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for w := range next {
				if err := create(ctx, w); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, w := range hooks {
		select {
		case next <- w:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// lookupStage times one lookup of project p's stage and checks it returned that stage's ten
// webhooks, enabled.
func lookupStage(ctx context.Context, b *testing.B, be routerBackend, p int) time.Duration {
	start := time.Now()
	targets, err := be.lookup.TargetsForStage(ctx, routerTenant, projectOf(p), stageOf(p))
	took := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v", be.name, err)
	}
	var got []string
	for _, t := range targets {
		if t.TenantID != routerTenant || !t.Enabled {
			b.Fatalf("%s: project %d: target %+v, want enabled in tenant %s", be.name, p, t, routerTenant)
		}
		got = append(got, t.WebhookID)
	}
	want := make([]string, hooksPerStage)
	for i := range want {
		want[i] = webhookIDOf(p*hooksPerStage + i)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		b.Fatalf("%s: project %d's stage returned %v, want %v", be.name, p, got, want)
	}
	return took
}

func webhookIDOf(n int) string { return fmt.Sprintf("wh_%06d", n) }
func projectOf(p int) string   { return fmt.Sprintf("proj-%05d", p) }
func stageOf(p int) string     { return fmt.Sprintf("stage-%05d", p) }

// percentile is the nearest-rank percentile q of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(i, 0)]
}

// routerTable lays results out as a table, with each backend's p50 ratio of its largest size to
// its smallest.
func routerTable(results []routerResult) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-9s %8s %10s %10s %16s %10s\n", "backend", "size", "p50", "p99", "requests/lookup", "setup")
	first := map[string]routerResult{}
	last := map[string]routerResult{}
	var order []string
	for _, r := range results {
		if _, ok := first[r.backend]; !ok {
			first[r.backend] = r
			order = append(order, r.backend)
		}
		last[r.backend] = r
		reqs := "n/a"
		if r.requestsPerLookup >= 0 {
			reqs = fmt.Sprintf("%.2f", r.requestsPerLookup)
		}
		fmt.Fprintf(&sb, "%-9s %8d %10s %10s %16s %10s\n", r.backend, r.size, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), reqs, r.setup.Round(time.Second))
	}
	for _, name := range order {
		f, l := first[name], last[name]
		fmt.Fprintf(&sb, "%s: p50(%d)/p50(%d) = %.2f\n", name, l.size, f.size, float64(l.p50)/float64(f.p50))
	}
	return sb.String()
}
