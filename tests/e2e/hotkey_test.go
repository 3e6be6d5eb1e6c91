package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/cost"
)

// DynamoDB gives one partition key at most 1,000 write units a second (and 3,000 read units),
// whatever the table's capacity: a key that takes more is throttled.
const (
	partitionWriteUnits = 1000
	hotRate             = 5000 // deliveries a second to one webhook
)

// One webhook receiving a burst, a third of its deliveries failing once, with a rate limit
// of 5,000 a second: the real router and delivery function on the stand-ins, every DynamoDB
// write metered by the partition key it lands on. Write units per delivery on each key, times
// 5,000 deliveries a second, must stay inside what one partition takes. The failure streak is
// written by time, not per delivery, so it is checked as writes per second per process.
func TestAHotWebhookKeepsEveryPartitionInsideItsShare(t *testing.T) {
	t.Parallel()
	meter := newKeyMeter()
	w := newWorld(t, worldOptions{schedule: "1s", allowLoopback: true, cacheTTL: 10 * time.Second, dynamoMiddleware: meter.middleware})
	// The first attempt of every third request's delivery fails; every delivery then succeeds.
	var mu sync.Mutex
	failed, succeeded := map[string]bool{}, map[string]bool{}
	r := newReceiver(t, nil)
	r.status = func(n int) (int, http.Header) {
		id := r.requests()[n-1].header.Get("webhook-id")
		mu.Lock()
		defer mu.Unlock()
		if n%3 == 0 && !failed[id] && !succeeded[id] {
			failed[id] = true
			return http.StatusInternalServerError, nil
		}
		succeeded[id] = true
		return http.StatusOK, nil
	}
	tally := func() (ok, failedOnce int) {
		mu.Lock()
		defer mu.Unlock()
		return len(succeeded), len(failed)
	}
	hook := contract.NewWebhook(t, sampleTenant, "wh_hot", sampleProject, sampleAnnotateStage, stagehooks.StageAnnotate, r.url())
	hook.RateLimitPerSecond = hotRate
	if err := w.store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	r.secret = hook.Secrets[0]

	// The router's side: the hot webhook's events and as many on a stage without webhooks,
	// each of which the Events page records.
	const events = 300
	for i := range events {
		if err := w.publishTransition(t, i); err != nil {
			t.Fatal(err)
		}
		// EventBridge gives every event its own id; the sample has one.
		raw, err := samples.Read("router/task-completed.json")
		if err != nil {
			t.Fatal(err)
		}
		raw = bytes.Replace(raw, []byte("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"), fmt.Appendf(nil, "9a8b7c6d-5e4f-4a3b-8c2d-%012d", i), 1)
		if err := w.publishRaw(t, raw); err != nil {
			t.Fatal(err)
		}
	}
	routerKeys := meter.snapshot()
	if len(routerKeys) == 0 {
		t.Fatal("the router wrote nothing: the Events page records events on stages without webhooks")
	}
	busiest := routerKeys[0]
	routerRate := busiest.units / (2 * events) * hotRate
	t.Logf("router: %d keys written for %d events; the busiest, %s, %.0f units (%d writes): %.0f write units/s at %d events/s",
		len(routerKeys), 2*events, busiest.key, busiest.units, busiest.writes, routerRate, hotRate)
	if routerRate > partitionWriteUnits {
		t.Errorf("at %d events/s the router puts %.0f write units/s on %s, over a partition's %d", hotRate, routerRate, busiest.key, partitionWriteUnits)
	}
	meter.reset()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 { // four Lambda instances' worth of pollers
		wg.Go(func() {
			for ok, _ := tally(); ctx.Err() == nil && ok < events; ok, _ = tally() {
				if _, err := w.poller.PollOnce(ctx); err != nil && ctx.Err() == nil {
					t.Logf("poll: %v", err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ok, failedOnce := tally()
	if ok < events {
		t.Fatalf("%d of %d deliveries succeeded within 90 s", ok, events)
	}

	keys := meter.snapshot()
	var attemptUnits float64
	var report []string
	worst := keyUse{}
	for _, k := range keys {
		perDelivery := k.units / events
		if strings.HasPrefix(k.key, w.backend.AttemptsTable+" T#"+sampleTenant+"#WH#wh_hot") {
			attemptUnits += k.units
		}
		if len(report) < 8 {
			report = append(report, fmt.Sprintf("%s: %d writes, %.0f units, %.3f a delivery", k.key, k.writes, k.units, perDelivery))
		}
		if k.key == healthKey(w) {
			continue // by time, below
		}
		if perDelivery > worst.units/events {
			worst = k
		}
	}
	t.Logf("%d deliveries to one webhook in %v (%d failed once); the busiest of %d keys written:\n  %s",
		events, elapsed.Round(time.Millisecond), failedOnce, len(keys), strings.Join(report, "\n  "))
	atHotRate := worst.units / events * hotRate
	t.Logf("at %d deliveries/s: the busiest key per delivery, %s, takes %.0f write units/s of %d; unsharded, the attempt log alone would put %.0f on one key",
		hotRate, worst.key, atHotRate, partitionWriteUnits, attemptUnits/events*hotRate)
	if atHotRate > partitionWriteUnits {
		t.Errorf("at %d deliveries/s %s takes %.0f write units/s, over a partition's %d", hotRate, worst.key, atHotRate, partitionWriteUnits)
	}
	if attemptUnits/events*hotRate <= partitionWriteUnits {
		t.Errorf("the attempt log spends %.2f units a delivery: the workload is too light to show a hot key", attemptUnits/events)
	}
	for _, k := range keys {
		if strings.Contains(k.key, "#RL#") {
			t.Logf("the busiest rate-limit item, %s: %d writes, %.0f write units/s at %d deliveries/s", k.key, k.writes, k.units/events*hotRate, hotRate)
			break
		}
	}
	health := meter.get(healthKey(w))
	perSecond := float64(health.writes) / math.Max(1, elapsed.Seconds())
	t.Logf("the webhook's item (its tenant's key): %d writes in %v, %.1f/s from one process; %.0f deliveries failed once", health.writes, elapsed.Round(time.Millisecond), perSecond, float64(failedOnce))
	// One process writes a streak at most once a second, plus the one that ends it.
	if limit := math.Ceil(elapsed.Seconds()) + 2; float64(health.writes) > limit {
		t.Errorf("the failure streak took %d writes in %v, want at most %.0f", health.writes, elapsed, limit)
	}
}

// healthKey is the partition key of the hot webhook's own item: its tenant's.
func healthKey(w *world) string { return w.backend.WebhooksTable + " T#" + sampleTenant }

// keyMeter counts DynamoDB write units by the partition key they land on, in the table and in
// its indexes: units as each call reports them (ReturnConsumedCapacity), and for a batch, by
// each item's size as DynamoDB bills it.
type keyMeter struct {
	mu   sync.Mutex
	uses map[string]*keyUse
}

type keyUse struct {
	key    string
	writes int
	units  float64
}

func newKeyMeter() *keyMeter { return &keyMeter{uses: map[string]*keyUse{}} }

func (m *keyMeter) add(key string, units float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.uses[key]
	if u == nil {
		u = &keyUse{key: key}
		m.uses[key] = u
	}
	u.writes++
	u.units += units
}

func (m *keyMeter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uses = map[string]*keyUse{}
}

func (m *keyMeter) get(key string) keyUse {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.uses[key]; u != nil {
		return *u
	}
	return keyUse{key: key}
}

func (m *keyMeter) snapshot() []keyUse {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keyUse
	for _, u := range m.uses {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].units > out[j].units })
	return out
}

func (m *keyMeter) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("HeraldKeyMeter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			var table, pk string
			switch p := in.Parameters.(type) {
			case *dynamodb.UpdateItemInput:
				p.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
				table, pk = *p.TableName, stringAttr(p.Key, "pk")
			case *dynamodb.PutItemInput:
				p.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
				table, pk = *p.TableName, stringAttr(p.Item, "pk")
			case *dynamodb.BatchWriteItemInput:
				for table, writes := range p.RequestItems {
					for _, wr := range writes {
						if wr.PutRequest == nil {
							continue
						}
						item := wr.PutRequest.Item
						units := math.Max(1, math.Ceil(float64(cost.ItemSize(item))/1024))
						m.add(table+" "+stringAttr(item, "pk"), units)
						if dk := stringAttr(item, "delivery_key"); dk != "" {
							m.add(table+"/by_delivery "+dk, units)
						}
					}
				}
			}
			out, md, err := next.HandleInitialize(ctx, in)
			if pk == "" {
				return out, md, err
			}
			var ccf *types.ConditionalCheckFailedException
			switch {
			case errors.As(err, &ccf):
				// A write whose condition fails is billed as one.
				m.add(table+" "+pk, 1)
			case err == nil:
				var cc *types.ConsumedCapacity
				switch r := out.Result.(type) {
				case *dynamodb.UpdateItemOutput:
					cc = r.ConsumedCapacity
				case *dynamodb.PutItemOutput:
					cc = r.ConsumedCapacity
				}
				units := 1.0
				if cc != nil && cc.Table != nil && cc.Table.CapacityUnits != nil {
					units = *cc.Table.CapacityUnits
				}
				m.add(table+" "+pk, units)
			}
			return out, md, err
		}), middleware.After)
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
