package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// rate and duration of the steady load: the single-machine target is p99 ≤ 50 ms at 500
// events/s on a 2-core machine.
const (
	embeddedRate     = 500
	embeddedDuration = 10 * time.Second
)

// BenchmarkEmbeddedEventToReceiver publishes stage transitions through the embedded default's
// PutEvents endpoint at a steady rate and measures, for each, the time from the start of its
// PutEvents call to the first arrival of its webhook at a loopback receiver. It reports p50,
// p99 and max latency and the sustained delivery rate. Run with -benchtime 1x.
func BenchmarkEmbeddedEventToReceiver(b *testing.B) {
	for range b.N {
		runEmbeddedLoad(b)
	}
}

func runEmbeddedLoad(b *testing.B) {
	ctx := context.Background()
	tmpl, err := samtemplate.LoadRoot()
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		var doc struct {
			Created string `json:"event_created_timestamp"`
		}
		_ = json.Unmarshal(body, &doc)
		mu.Lock()
		if _, ok := arrived[doc.Created]; !ok {
			arrived[doc.Created] = at
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	h, err := localrun.Start(ctx, localrun.Config{
		DataDir: b.TempDir(), Template: tmpl, EventsAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", AllowLoopback: true, Synchronous: benchSync, Pollers: benchPollers,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	secret, _ := signing.NewSecret()
	now := time.Now()
	if err := h.Store.CreateWebhook(ctx, stagehooks.Webhook{
		ID: "wh_bench", TenantID: "acme", OwnerID: "bench", ProjectHash: "751a3a3e-46b6-4aad-b0b8-19b169f91266",
		StageUUID: "a1b2c3d4-0000-4000-8000-00000000a001", StageType: stagehooks.StageAnnotate, URL: receiver.URL + "/hook",
		Secrets: []string{secret}, Enabled: true, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		b.Fatal(err)
	}

	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}))
	if err != nil {
		b.Fatal(err)
	}
	client := eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(h.EventsURL) })
	raw, _ := samples.Read("router/task-submitted.json")
	var ev struct {
		Detail json.RawMessage `json:"detail"`
	}
	_ = json.Unmarshal(raw, &ev)

	total := int(embeddedRate * embeddedDuration / time.Second)
	sent := make([]time.Time, total)
	created := make([]string, total)
	var failures int
	var fmu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / embeddedRate
	start := time.Now()
	b.ResetTimer()
	for i := range total {
		// Open loop: each event leaves at its scheduled time whatever the previous ones did,
		// so a slow Herald shows as latency, not as a lower offered rate.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		created[i] = fmt.Sprintf("2024-03-25T15:%02d:%02d.%06d+00:00", i/60_000_000%60, i/1_000_000%60, i%1_000_000)
		detail := strings.Replace(string(ev.Detail), "2024-03-25T15:18:55.406529+00:00", created[i], 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i] = time.Now()
			out, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
				Source: aws.String("encord.workflow"), DetailType: aws.String("Task Stage Transition"), Detail: aws.String(detail),
				EventBusName: aws.String("herald"), // template.yaml's bus
			}}})
			if err != nil || out.FailedEntryCount > 0 {
				fmu.Lock()
				failures++
				fmu.Unlock()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= total-failures || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	var last time.Time
	for i := range total {
		if at, ok := arrived[created[i]]; ok {
			lat = append(lat, at.Sub(sent[i]))
			if at.After(last) {
				last = at
			}
		}
	}
	if len(lat) == 0 {
		b.Fatal("nothing delivered")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	rate := float64(len(lat)) / last.Sub(start).Seconds()
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(rate, "delivered/s")
	b.Logf("offered %d events at %d/s: delivered %d, rejected %d; p50 %s, p99 %s, max %s; sustained %.0f deliveries/s",
		total, embeddedRate, len(lat), failures, pct(0.50), pct(0.99), lat[len(lat)-1], rate)
	if len(lat) < total-failures {
		b.Errorf("%d accepted events not delivered within 30 s", total-failures-len(lat))
	}
}

// The runner's defaults, stated: the figures are for what `go run ./infra/herald` runs.
var (
	benchSync    = "NORMAL"
	benchPollers = 4
)
