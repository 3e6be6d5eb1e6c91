package lambdafn_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/heraldhq/herald/infra/lambdafn"
)

// Each count is published by kind and in all, the one the template's alarms watch.
func TestEMFPublishesByKindAndInAll(t *testing.T) {
	var out bytes.Buffer
	lambdafn.NewEMF(&out).Count("AttemptLogLost", "record_failed")
	var line struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Kind           string
		AttemptLogLost int
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	m := line.AWS.CloudWatchMetrics
	if len(m) != 1 || m[0].Namespace != "Herald" || len(m[0].Dimensions) != 2 || len(m[0].Dimensions[0]) != 1 || m[0].Dimensions[0][0] != "Kind" ||
		len(m[0].Dimensions[1]) != 0 || line.Kind != "record_failed" || line.AttemptLogLost != 1 {
		t.Fatalf("EMF line %s", out.Bytes())
	}
}
