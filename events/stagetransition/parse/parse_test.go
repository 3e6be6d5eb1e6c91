package parse_test

import (
	"encoding/json"
	"testing"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/events/stagetransition/parse"
)

type envelope struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

func readDetail(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := samples.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return env.Detail
}

func TestAcceptedSamplesParse(t *testing.T) {
	t.Parallel()
	names, err := samples.List("router")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 2 {
		t.Fatalf("want at least a submitted and a completed sample, have %v", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, err := parse.Detail(readDetail(t, name))
			if err != nil {
				t.Fatalf("sample rejected: %v", err)
			}
			if d.TenantID != "acme" {
				t.Fatalf("tenant_id = %q, want the samples' tenant acme", d.TenantID)
			}
			if d.ProjectHash == "" || d.TaskID == "" || d.ToStage.UUID == "" || d.OccurredAt.IsZero() {
				t.Fatalf("decoded detail lacks fields: %+v", d)
			}
		})
	}
}

func TestRejectedSamplesFailWithTheirReason(t *testing.T) {
	t.Parallel()
	raw, err := samples.Read("rejected/expected-reasons.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]string
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	names, _ := samples.List("rejected")
	if len(names) != len(want)+1 { // +1: expected-reasons.json itself
		t.Fatalf("rejected/ holds %d samples but expected-reasons.json lists %d", len(names)-1, len(want))
	}
	for file, reason := range want {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			_, err := parse.Detail(readDetail(t, "rejected/"+file))
			if err == nil {
				t.Fatal("invalid event accepted")
			}
			if got := stagetransition.ReasonOf(err); string(got) != reason {
				t.Fatalf("reason = %q, want %q (error: %v)", got, reason, err)
			}
		})
	}
}

func TestParseDetailEdgeCases(t *testing.T) {
	t.Parallel()
	valid := readDetail(t, "router/task-submitted.json")
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(valid, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name   string
		detail []byte
		reason stagetransition.Reason
	}{
		{"not json", []byte(`{"project_hash":`), stagetransition.ReasonMalformedJSON},
		{"array", []byte(`[1,2]`), stagetransition.ReasonSchemaViolation},
		{"null", []byte(`null`), stagetransition.ReasonSchemaViolation},
		{"unknown from stage type", mutate(func(m map[string]any) { m["from_stage"].(map[string]any)["type"] = "ANNOTATE" }), stagetransition.ReasonUnknownStageType},
		{"null data hashes", mutate(func(m map[string]any) { m["data_hashes"] = nil }), stagetransition.ReasonMissingHashes},
		{"hash with key separator", mutate(func(m map[string]any) { m["project_hash"] = "p#1" }), stagetransition.ReasonSchemaViolation},
		{"null tenant", mutate(func(m map[string]any) { m["tenant_id"] = nil }), stagetransition.ReasonMissingTenant},
		{"empty tenant", mutate(func(m map[string]any) { m["tenant_id"] = "" }), stagetransition.ReasonMissingTenant},
		{"tenant not a string", mutate(func(m map[string]any) { m["tenant_id"] = 7 }), stagetransition.ReasonSchemaViolation},
		{"tenant with key separator", mutate(func(m map[string]any) { m["tenant_id"] = "acme#b" }), stagetransition.ReasonSchemaViolation},
		{"data hashes not array", mutate(func(m map[string]any) { m["data_hashes"] = "f0b0" }), stagetransition.ReasonSchemaViolation},
		{"missing to_stage", mutate(func(m map[string]any) { delete(m, "to_stage") }), stagetransition.ReasonSchemaViolation},
		{"version as string", mutate(func(m map[string]any) { m["schema_version"] = "1" }), stagetransition.ReasonUnsupportedVersion},
		{"impossible hour", mutate(func(m map[string]any) { m["occurred_at"] = "2024-03-25T25:18:55+00:00" }), stagetransition.ReasonSchemaViolation},
		{"bad email", mutate(func(m map[string]any) { m["actor"] = map[string]any{"email": "nobody"} }), stagetransition.ReasonSchemaViolation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse.Detail(tc.detail)
			if got := stagetransition.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason = %q, want %q (error: %v)", got, tc.reason, err)
			}
		})
	}

	t.Run("entering the workflow has no from_stage", func(t *testing.T) {
		t.Parallel()
		for _, detail := range [][]byte{
			mutate(func(m map[string]any) { delete(m, "from_stage") }),
			mutate(func(m map[string]any) { m["from_stage"] = nil }),
		} {
			d, err := parse.Detail(detail)
			if err != nil {
				t.Fatal(err)
			}
			if d.FromStage != nil {
				t.Fatalf("from_stage = %+v, want nil", d.FromStage)
			}
		}
	})
}

func FuzzParseDetail(f *testing.F) {
	for _, name := range []string{"router/task-submitted.json", "router/task-completed.json", "rejected/unknown-field.json"} {
		raw, _ := samples.Read(name)
		var env envelope
		_ = json.Unmarshal(raw, &env)
		f.Add([]byte(env.Detail))
	}
	f.Fuzz(func(t *testing.T, detail []byte) {
		d, err := parse.Detail(detail)
		if err != nil && stagetransition.ReasonOf(err) == "" {
			t.Fatalf("error without a reason: %v", err)
		}
		if err == nil && (d.ProjectHash == "" || len(d.DataHashes) == 0 || len(d.LabelHashes) == 0) {
			t.Fatalf("accepted a detail without its required fields: %s", detail)
		}
	})
}
