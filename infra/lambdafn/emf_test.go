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
	emf := lambdafn.NewEMF(&out)
	emf.Count("AttemptLogLost", "record_failed")
	emf.Flush()
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

// An invocation's counts are one line per metric and kind, written by Flush, and the next
// invocation starts from zero.
func TestEMFSumsAnInvocationsCountsIntoOneLinePerMetricAndKind(t *testing.T) {
	var out bytes.Buffer
	emf := lambdafn.NewEMF(&out)
	for range 10 {
		emf.Count("Attempts", "ok")
	}
	emf.Count("Attempts", "http_5xx")
	if out.Len() != 0 {
		t.Fatalf("wrote before Flush: %s", out.Bytes())
	}
	emf.Flush()
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (one per kind): %s", len(lines), out.Bytes())
	}
	want := map[string]int{"ok": 10, "http_5xx": 1}
	for _, l := range lines {
		var line struct {
			Kind     string
			Attempts int
		}
		if err := json.Unmarshal(l, &line); err != nil || want[line.Kind] != line.Attempts {
			t.Fatalf("line %s (%v), want counts %v", l, err, want)
		}
	}
	out.Reset()
	emf.Flush()
	if out.Len() != 0 {
		t.Fatalf("a second Flush wrote again: %s", out.Bytes())
	}
}
