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
type EMF struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

// NewEMF writes metric lines to out (os.Stdout in a function).
func NewEMF(out io.Writer) *EMF { return &EMF{out: out, now: time.Now} }

// Count implements telemetry.Counter.
func (e *EMF) Count(metric, dimension string) {
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": e.now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace": MetricsNamespace,
				// By kind, and in all: an alarm needs one metric to watch, and CloudWatch
				// alarms cannot sum over a dimension's values.
				"Dimensions": [][]string{{"Kind"}, {}},
				"Metrics":    []any{map[string]string{"Name": metric, "Unit": "Count"}},
			}},
		},
		"Kind": dimension,
		metric: 1,
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.out.Write(append(b, '\n'))
}
