package lambdafn

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// MetricsNamespace is the CloudWatch namespace of Herald's metrics.
const MetricsNamespace = "Herald"

// EMF counts by writing CloudWatch Embedded Metric Format lines to the function's log: Lambda
// ships them to CloudWatch Logs, which extracts the metrics, so counting costs no API call.
// Counts are summed over an invocation and written by Flush, one line per metric and kind:
// every line is billed as log ingestion, and a batch of ten deliveries counting one by one
// wrote ten lines where one says the same.
type EMF struct {
	mu     sync.Mutex
	out    io.Writer
	now    func() time.Time
	counts map[emfKey]int
	order  []emfKey
}

type emfKey struct{ metric, dimension string }

// NewEMF writes metric lines to out (os.Stdout in a function). lambdafn.Main flushes it after
// every invocation; anything else that counts through it calls Flush itself.
func NewEMF(out io.Writer) *EMF { return &EMF{out: out, now: time.Now, counts: map[emfKey]int{}} }

// Count implements telemetry.Counter: it adds one to the metric's count for this invocation.
func (e *EMF) Count(metric, dimension string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := emfKey{metric, dimension}
	if _, seen := e.counts[k]; !seen {
		e.order = append(e.order, k)
	}
	e.counts[k]++
}

// Flush writes the counts since the last Flush, one line per metric and kind, and starts
// again from zero.
func (e *EMF) Flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.now().UnixMilli()
	for _, k := range e.order {
		line := map[string]any{
			"_aws": map[string]any{
				"Timestamp": ts,
				"CloudWatchMetrics": []any{map[string]any{
					"Namespace": MetricsNamespace,
					// By kind, and in all: an alarm needs one metric to watch, and CloudWatch
					// alarms cannot sum over a dimension's values.
					"Dimensions": [][]string{{"Kind"}, {}},
					"Metrics":    []any{map[string]string{"Name": k.metric, "Unit": "Count"}},
				}},
			},
			"Kind":   k.dimension,
			k.metric: e.counts[k],
		}
		if b, err := json.Marshal(line); err == nil {
			_, _ = e.out.Write(append(b, '\n'))
		}
	}
	clear(e.counts)
	e.order = e.order[:0]
}
