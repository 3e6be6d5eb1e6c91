package stagehooks_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/events/stagetransition/parse"
	"github.com/heraldhq/herald/shared/stagehooks"
)

func sampleDetail(t testing.TB, name string) stagetransition.Detail {
	t.Helper()
	detail, err := samples.Detail(name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parse.Detail(detail)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The documented examples are the contract: given the transition behind each example and the
// example's uid, the body Herald builds must be the example byte for byte once the example's
// indentation is removed, which checks values, types and key order at once.
func TestPayloadsMatchDocumentedExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sample, example, eventType string
	}{
		{"router/task-submitted.json", "payloads/task_submitted_event.json", stagehooks.EventTaskSubmitted},
		{"router/task-completed.json", "payloads/task_completed_event.json", stagehooks.EventTaskCompleted},
	}
	for _, tc := range cases {
		t.Run(tc.eventType, func(t *testing.T) {
			t.Parallel()
			example, err := samples.Read(tc.example)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				UID string `json:"uid"`
			}
			if err := json.Unmarshal(example, &doc); err != nil {
				t.Fatal(err)
			}
			got, err := stagehooks.BuildPayload(sampleDetail(t, tc.sample), tc.eventType, doc.UID)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, example); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("payload differs from the documented example\n got: %s\nwant: %s", got, want.Bytes())
			}
		})
	}
}

func TestPayloadTimestampKeepsMicrosecondsAndOffset(t *testing.T) {
	t.Parallel()
	d := sampleDetail(t, "router/task-submitted.json")
	d.OccurredAt = d.OccurredAt.Truncate(1e9) // whole second: the six digits must still be there
	body, err := stagehooks.BuildPayload(d, stagehooks.EventTaskSubmitted, "u")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(body, []byte(`"event_created_timestamp":"2024-03-25T15:18:55.000000+00:00"`)) {
		t.Fatalf("timestamp not in the documented form: %s", body)
	}
}

func TestPayloadUIDIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	d := sampleDetail(t, "router/task-submitted.json")
	a := stagehooks.PayloadUID(d, "wh_1", stagehooks.EventTaskSubmitted)
	if _, err := uuid.Parse(a); err != nil {
		t.Fatalf("uid %q is not a UUID: %v", a, err)
	}
	if again := stagehooks.PayloadUID(sampleDetail(t, "router/task-submitted.json"), "wh_1", stagehooks.EventTaskSubmitted); again != a {
		t.Fatalf("same transition gave uids %s and %s", a, again)
	}
	other := map[string]string{
		"other webhook": stagehooks.PayloadUID(d, "wh_2", stagehooks.EventTaskSubmitted),
		"other event":   stagehooks.PayloadUID(d, "wh_1", stagehooks.EventTaskCompleted),
	}
	later := d
	later.OccurredAt = d.OccurredAt.Add(1000)
	other["later transition"] = stagehooks.PayloadUID(later, "wh_1", stagehooks.EventTaskSubmitted)
	for name, uid := range other {
		if uid == a {
			t.Errorf("%s: uid %s collides", name, uid)
		}
	}
}

func TestTriggers(t *testing.T) {
	t.Parallel()
	stage := func(uuid string, typ stagetransition.StageType) stagetransition.Stage {
		return stagetransition.Stage{UUID: uuid, Type: typ}
	}
	ptr := func(s stagetransition.Stage) *stagetransition.Stage { return &s }
	cases := []struct {
		name   string
		from   *stagetransition.Stage
		to     stagetransition.Stage
		hashes int
		want   []stagehooks.Trigger
		reason stagetransition.Reason
	}{
		{"submitted", ptr(stage("a", stagetransition.Annotate)), stage("r", stagetransition.Review), 1,
			[]stagehooks.Trigger{{EventType: stagehooks.EventTaskSubmitted, StageUUID: "a"}}, ""},
		{"completed", ptr(stage("r", stagetransition.Review)), stage("c", stagetransition.Complete), 1,
			[]stagehooks.Trigger{{EventType: stagehooks.EventTaskCompleted, StageUUID: "c"}}, ""},
		{"annotate straight to complete fires both", ptr(stage("a", stagetransition.Annotate)), stage("c", stagetransition.Complete), 1,
			[]stagehooks.Trigger{{EventType: stagehooks.EventTaskSubmitted, StageUUID: "a"}, {EventType: stagehooks.EventTaskCompleted, StageUUID: "c"}}, ""},
		{"review to review fires nothing", ptr(stage("r", stagetransition.Review)), stage("r2", stagetransition.Review), 1, nil, ""},
		{"entering annotate fires nothing", nil, stage("a", stagetransition.Annotate), 1, nil, ""},
		{"completion with two data units is rejected", ptr(stage("r", stagetransition.Review)), stage("c", stagetransition.Complete), 2, nil, stagetransition.ReasonMissingHashes},
		{"submission with two data units is fine", ptr(stage("a", stagetransition.Annotate)), stage("r", stagetransition.Review), 2,
			[]stagehooks.Trigger{{EventType: stagehooks.EventTaskSubmitted, StageUUID: "a"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := stagetransition.Detail{FromStage: tc.from, ToStage: tc.to}
			for i := range tc.hashes {
				d.DataHashes = append(d.DataHashes, string(rune('a'+i)))
				d.LabelHashes = append(d.LabelHashes, string(rune('a'+i)))
			}
			got, err := stagehooks.Triggers(d)
			if stagetransition.ReasonOf(err) != tc.reason {
				t.Fatalf("error %v, want reason %q", err, tc.reason)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("triggers = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("triggers = %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestParseStageTypeAcceptsOnlyAnnotateAndComplete(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"annotate", "complete"} {
		if _, err := stagehooks.ParseStageType(s); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	for _, s := range []string{"review", "consensus_annotate", "Annotate", "", "archive"} {
		_, err := stagehooks.ParseStageType(s)
		var fe *stagehooks.FieldError
		if err == nil || !errors.As(err, &fe) || fe.Field != "stage_type" {
			t.Errorf("%q: error %v, want a stage_type field error", s, err)
		}
	}
}
