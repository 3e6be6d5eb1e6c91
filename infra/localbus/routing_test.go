package localbus_test

import (
	"errors"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/localbus"
)

// TestSamplesRouteAsTheTemplateSays publishes each sample event of events/samples with
// PutEvents, as a producer would, against template.yaml's rules: router/ and rejected/ samples
// reach RouterFunction (the rule filters on the envelope only, so the router can count malformed
// details), unmatched/ samples are accepted and reach nothing.
//
// rejected/detail-not-object.json is the exception: its detail is a JSON string, and
// EventBridge refuses such an entry at PutEvents with MalformedDetail, so no producer can make
// it reach the router through a bus; it exists for direct invokes (sam local invoke -e).
func TestSamplesRouteAsTheTemplateSays(t *testing.T) {
	t.Parallel()
	type sample struct {
		name          string
		wantRouted    bool
		wantErrorCode string
	}
	var cases []sample
	for _, folder := range []string{"router", "rejected", "unmatched"} {
		names, err := samples.List(folder)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 {
			t.Fatalf("no samples in %s", folder)
		}
		for _, name := range names {
			if name == "rejected/expected-reasons.json" {
				continue
			}
			c := sample{name: name, wantRouted: folder != "unmatched"}
			if name == "rejected/detail-not-object.json" {
				c = sample{name: name, wantErrorCode: localbus.ErrorCodeMalformedDetail}
			}
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bus := newTestBus(t, localbus.Options{})
			ev := readSample(t, c.name)

			status, body := putEvents(t, bus, requestBody(t, entryFromSample(t, ev)))

			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			res := decodeResult(t, body)
			if len(res.Entries) != 1 {
				t.Fatalf("response %s: want one entry", body)
			}
			if c.wantErrorCode != "" {
				if res.FailedEntryCount != 1 || res.Entries[0].ErrorCode != c.wantErrorCode {
					t.Errorf("response %s, want ErrorCode %s", body, c.wantErrorCode)
				}
				if n := len(bus.sink.Calls()); n != 0 {
					t.Errorf("Accept called %d times for a refused entry", n)
				}
				return
			}
			if res.FailedEntryCount != 0 || res.Entries[0].EventId == "" {
				t.Fatalf("response %s, want the entry accepted", body)
			}
			invs := bus.sink.Invocations()
			if !c.wantRouted {
				if len(invs) != 0 || len(bus.sink.Calls()) != 0 {
					t.Errorf("unmatched sample invoked %+v", invs)
				}
				return
			}
			if len(invs) != 1 || invs[0].Function != "RouterFunction" {
				t.Fatalf("invocations %+v, want one of RouterFunction", invs)
			}
			got := decodeEvent(t, invs[0].Event)
			if got.ID != res.Entries[0].EventId {
				t.Errorf("event id %s, EventId returned %s", got.ID, res.Entries[0].EventId)
			}
			if got.Version != "0" || got.Source != ev.Source || got.DetailType != ev.DetailType || got.Time != ev.Time ||
				got.Account != localbus.DefaultAccount || got.Region != localbus.DefaultRegion ||
				!slices.Equal(got.Resources, ev.Resources) || got.Resources == nil {
				t.Errorf("envelope %s does not carry the sample's %+v", invs[0].Event, ev)
			}
			if !sameJSON(t, got.Detail, ev.Detail) {
				t.Errorf("detail %s, want the sample's %s", got.Detail, ev.Detail)
			}
		})
	}
}

// TestOneAcceptPerRequest: a batch of router and unmatched samples reaches the sink in one
// Accept call holding exactly the router's invocations, in entry order.
func TestOneAcceptPerRequest(t *testing.T) {
	t.Parallel()
	bus := newTestBus(t, localbus.Options{})
	names := []string{
		"router/task-submitted.json", "unmatched/other-source.json", "router/task-completed.json",
		"unmatched/other-detail-type.json", "router/task-reviewed.json",
	}
	var entries []wireEntry
	for _, n := range names {
		entries = append(entries, entryFromSample(t, readSample(t, n)))
	}

	status, body := putEvents(t, bus, requestBody(t, entries...))

	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	res := decodeResult(t, body)
	if res.FailedEntryCount != 0 || len(res.Entries) != len(names) {
		t.Fatalf("response %s", body)
	}
	calls := bus.sink.Calls()
	if len(calls) != 1 {
		t.Fatalf("Accept called %d times, want 1", len(calls))
	}
	var ids []string
	for _, inv := range calls[0] {
		ids = append(ids, decodeEvent(t, inv.Event).ID)
	}
	want := []string{res.Entries[0].EventId, res.Entries[2].EventId, res.Entries[4].EventId}
	if !slices.Equal(ids, want) {
		t.Errorf("invoked events %v, want those of the router samples %v", ids, want)
	}
}

// TestSinkFailure: when the sink cannot persist, every entry with invocations fails with
// InternalFailure so that the producer retries it, while entries matching no rule and entries
// refused on their own keep their results.
func TestSinkFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		entries   []string
		wantCodes []string // "" for success
	}{
		{
			name:      "matching entries fail, unmatched ones succeed",
			entries:   []string{"router/task-submitted.json", "unmatched/other-source.json", "router/task-completed.json"},
			wantCodes: []string{"InternalFailure", "", "InternalFailure"},
		},
		{
			name:      "an invalid entry keeps its own code",
			entries:   []string{"router/task-submitted.json", "rejected/detail-not-object.json"},
			wantCodes: []string{"InternalFailure", "MalformedDetail"},
		},
		{
			name:      "nothing to persist: the sink is not called and all succeed",
			entries:   []string{"unmatched/other-source.json", "unmatched/other-detail-type.json"},
			wantCodes: []string{"", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newTestBus(t, localbus.Options{})
			bus.sink.err = errors.New("database is locked")
			var entries []wireEntry
			for _, n := range tt.entries {
				entries = append(entries, entryFromSample(t, readSample(t, n)))
			}

			status, body := putEvents(t, bus, requestBody(t, entries...))

			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			res := decodeResult(t, body)
			wantFailed := 0
			for i, code := range tt.wantCodes {
				e := res.Entries[i]
				switch {
				case code == "" && (e.EventId == "" || e.ErrorCode != ""):
					t.Errorf("entry %d (%s) = %+v, want success", i, tt.entries[i], e)
				case code != "":
					wantFailed++
					if e.ErrorCode != code || e.EventId != "" || e.ErrorMessage == "" {
						t.Errorf("entry %d (%s) = %+v, want ErrorCode %s", i, tt.entries[i], e, code)
					}
					if strings.Contains(e.ErrorMessage, "database") {
						t.Errorf("entry %d leaks the sink's error: %q", i, e.ErrorMessage)
					}
				}
			}
			if res.FailedEntryCount != wantFailed {
				t.Errorf("FailedEntryCount = %d, want %d", res.FailedEntryCount, wantFailed)
			}
			if got := bus.counter.Get(localbus.MetricEventsRejected, localbus.ErrorCodeInternalFailure); got != int64(strings.Count(strings.Join(tt.wantCodes, ","), "InternalFailure")) {
				t.Errorf("EventsRejected{InternalFailure} = %d", got)
			}
			if slices.Contains(tt.wantCodes, "InternalFailure") && !strings.Contains(bus.log.String(), "database is locked") {
				t.Errorf("the sink's error is not logged:\n%s", bus.log.String())
			}
			if n := len(bus.sink.Calls()); n > 1 {
				t.Errorf("Accept called %d times", n)
			}
		})
	}
}

// TestRejectedEntriesAreLoggedAndCounted: each failed entry is one log line with its reason and
// one count of EventsRejected by ErrorCode; request-level failures count once by error type.
func TestRejectedEntriesAreLoggedAndCounted(t *testing.T) {
	t.Parallel()
	bus := newTestBus(t, localbus.Options{})

	putEvents(t, bus, `{"Entries":[{"Source":"s","DetailType":"d","Detail":"[]"},{"Source":"s","DetailType":"d","Detail":"nope"},{"Source":"s","Detail":"{}"},{"Source":"s","DetailType":"d","Detail":"{}"}]}`)
	putEvents(t, bus, `{"Entries":[]}`)

	for dim, want := range map[string]int64{
		localbus.ErrorCodeMalformedDetail: 2,
		localbus.ErrorCodeInvalidArgument: 1,
		localbus.ValidationException:      1,
	} {
		if got := bus.counter.Get(localbus.MetricEventsRejected, dim); got != want {
			t.Errorf("EventsRejected{%s} = %d, want %d", dim, got, want)
		}
	}
	if got := bus.counter.Total(localbus.MetricEventsRejected); got != 4 {
		t.Errorf("EventsRejected total = %d, want 4 (the accepted entry is not counted)", got)
	}
	log := bus.log.String()
	for _, want := range []string{
		`entry=0 error_code=MalformedDetail reason="Detail is malformed."`,
		`entry=1 error_code=MalformedDetail`,
		`entry=2 error_code=InvalidArgument reason="Parameter DetailType is not valid. Reason: DetailType is a required argument."`,
		`error_type=ValidationException`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "entry=3") {
		t.Errorf("the accepted entry is logged as rejected:\n%s", log)
	}
}

// TestCustomBusRules: a rule on a named bus takes only the entries addressed to that bus, by
// name or ARN; an entry with no EventBusName goes to the default bus.
func TestCustomBusRules(t *testing.T) {
	t.Parallel()
	rules := templateRules(t)
	rules[0].Bus = "herald-bus"
	sink := &recordingSink{}
	bus := localbus.New(rules, sink, localbus.Options{NewID: sequentialIDs()})

	tests := []struct {
		busName    string
		wantRouted bool
	}{
		{"", false},
		{"default", false},
		{"herald-bus", true},
		{"arn:aws:events:eu-west-1:123456789012:event-bus/herald-bus", true},
		{"herald-bus-2", false},
	}
	ev := readSample(t, path.Join("router", "task-submitted.json"))
	for _, tt := range tests {
		before := len(sink.Invocations())
		e := entryFromSample(t, ev)
		e.EventBusName = tt.busName
		status, body := putEvents(t, bus, requestBody(t, e))
		if status != http.StatusOK || decodeResult(t, body).FailedEntryCount != 0 {
			t.Fatalf("EventBusName %q: %d %s", tt.busName, status, body)
		}
		if routed := len(sink.Invocations()) > before; routed != tt.wantRouted {
			t.Errorf("EventBusName %q: routed = %v, want %v", tt.busName, routed, tt.wantRouted)
		}
	}
}

// An event put on the default bus that only a rule of Herald's own bus matches goes nowhere,
// as on AWS, and the bus says why: the producer most likely left EventBusName out.
func TestAnEventOnTheWrongBusIsExplained(t *testing.T) {
	t.Parallel()
	log := &syncBuffer{}
	sink := &recordingSink{}
	bus := localbus.New(templateRules(t), sink, localbus.Options{Logger: slog.New(slog.NewTextHandler(log, nil)), NewID: sequentialIDs()})
	entry := entryFromSample(t, readSample(t, "router/task-submitted.json"))
	entry.EventBusName = ""
	status, body := putEvents(t, bus, requestBody(t, entry))
	if status != 200 || decodeResult(t, body).FailedEntryCount != 0 || len(sink.Invocations()) != 0 {
		t.Fatalf("PutEvents on the default bus: %d %s, %d invocations; want it accepted and routed nowhere", status, body, len(sink.Invocations()))
	}
	if !strings.Contains(log.String(), "set EventBusName") || !strings.Contains(log.String(), "herald") {
		t.Fatalf("no hint about the bus in the log:\n%s", log.String())
	}
	entry.EventBusName = "herald"
	putEvents(t, bus, requestBody(t, entry))
	if len(sink.Invocations()) != 1 {
		t.Fatalf("on the herald bus: %d invocations, want 1", len(sink.Invocations()))
	}
}

// TestEachSampleReachesItsFunctions routes every sample through all of template.yaml's rules:
// a stage transition reaches the router and the notification router, a label or assignment
// event the notification router alone, an unmatched one nothing.
func TestEachSampleReachesItsFunctions(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"router": {"NotifyFunction", "RouterFunction"}, "rejected": {"NotifyFunction", "RouterFunction"},
		"notify": {"NotifyFunction"}, "notify-rejected": {"NotifyFunction"}, "unmatched": nil,
	}
	for folder, functions := range want {
		names, err := samples.List(folder)
		if err != nil || len(names) == 0 {
			t.Fatalf("samples in %s: %v", folder, err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "expected-reasons.json") || name == "rejected/detail-not-object.json" {
				continue
			}
			sink := &recordingSink{}
			bus := localbus.New(onDefaultBus(allTemplateRules(t)), sink, localbus.Options{NewID: sequentialIDs(), Now: func() time.Time { return fixedNow }})
			status, body := putEvents(t, &testBus{Bus: bus, sink: sink}, requestBody(t, entryFromSample(t, readSample(t, name))))
			if status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", name, status, body)
			}
			var got []string
			for _, inv := range sink.Invocations() {
				got = append(got, inv.Function)
			}
			slices.Sort(got)
			if !slices.Equal(got, functions) {
				t.Errorf("%s reaches %v, want %v", name, got, functions)
			}
		}
	}
}
