package localbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/localbus"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/shared/telemetry"
)

var _ localbus.Counter = (*telemetry.Memory)(nil)

// recordingSink keeps every Accept call; it fails them all when err is set.
type recordingSink struct {
	mu    sync.Mutex
	calls [][]localbus.Invocation
	err   error
}

func (s *recordingSink) Accept(_ context.Context, invocations []localbus.Invocation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, append([]localbus.Invocation(nil), invocations...))
	return s.err
}

func (s *recordingSink) Calls() [][]localbus.Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]localbus.Invocation(nil), s.calls...)
}

// Invocations returns every invocation of every call, in order.
func (s *recordingSink) Invocations() []localbus.Invocation {
	var all []localbus.Invocation
	for _, c := range s.Calls() {
		all = append(all, c...)
	}
	return all
}

// sequentialIDs returns an ID generator giving 00000000-0000-4000-8000-000000000001, …002, …:
// the first ID of a request is its request ID, then one per accepted entry.
func sequentialIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) }
}

// id is the n-th ID sequentialIDs hands out.
func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// fixedNow is the clock of entries without a Time in tests.
var fixedNow = time.Date(2026, 5, 4, 3, 2, 1, 987654321, time.UTC)

// templateRules are the rules of the repository's template.yaml.
func templateRules(t *testing.T) []localbus.Rule {
	t.Helper()
	var out []localbus.Rule
	for _, r := range allTemplateRules(t) {
		if r.Function == "RouterFunction" {
			out = append(out, r)
		}
	}
	return out
}

// allTemplateRules is every rule of template.yaml. The wire tests use the router's alone
// (templateRules), so each routed entry is one invocation; TestEachSampleReachesItsFunctions
// checks the rules together.
func allTemplateRules(t *testing.T) []localbus.Rule {
	t.Helper()
	tpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := localbus.LoadRules(tpl)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// onDefaultBus moves rules to the default bus. The wire and routing tests publish as a producer
// that names no bus, and check what the bus does with entries, not which bus the template
// picked (TestLoadRulesFromTemplate does that).
func onDefaultBus(rules []localbus.Rule) []localbus.Rule {
	out := make([]localbus.Rule, len(rules))
	for i, r := range rules {
		r.Bus = localbus.DefaultBus
		out[i] = r
	}
	return out
}

// testBus is a Bus on template.yaml's rules with deterministic IDs and clock, its sink, its
// counter and its log.
type testBus struct {
	*localbus.Bus
	sink    *recordingSink
	counter *telemetry.Memory
	log     *syncBuffer
}

func newTestBus(t *testing.T, opts localbus.Options) *testBus {
	t.Helper()
	tb := &testBus{sink: &recordingSink{}, counter: telemetry.NewMemory(), log: &syncBuffer{}}
	if opts.NewID == nil {
		opts.NewID = sequentialIDs()
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	opts.Counter = tb.counter
	opts.Logger = slog.New(slog.NewTextHandler(tb.log, nil))
	tb.Bus = localbus.New(onDefaultBus(templateRules(t)), tb.sink, opts)
	return tb
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// putEvents posts a PutEvents request body as the AWS SDKs do and returns the status and body.
func putEvents(t *testing.T, h http.Handler, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Code, string(out)
}

// sampleEvent is an EventBridge envelope from events/samples.
type sampleEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

func readSample(t *testing.T, name string) sampleEvent {
	t.Helper()
	b, err := samples.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	var ev sampleEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// wireEntry is a PutEventsRequestEntry as a producer writes it.
type wireEntry struct {
	Source       string   `json:"Source,omitempty"`
	DetailType   string   `json:"DetailType,omitempty"`
	Detail       string   `json:"Detail,omitempty"`
	Resources    []string `json:"Resources,omitempty"`
	Time         any      `json:"Time,omitempty"`
	EventBusName string   `json:"EventBusName,omitempty"`
}

// entryFromSample is the PutEvents entry a producer sends to publish a sample event; time is
// the AWS JSON timestamp (epoch seconds).
func entryFromSample(t *testing.T, ev sampleEvent) wireEntry {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, ev.Time)
	if err != nil {
		t.Fatal(err)
	}
	return wireEntry{
		Source:     ev.Source,
		DetailType: ev.DetailType,
		Detail:     string(ev.Detail),
		Resources:  ev.Resources,
		Time:       tm.Unix(),
	}
}

func requestBody(t *testing.T, entries ...wireEntry) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Entries": entries})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// putEventsResult is PutEvents' response.
type putEventsResult struct {
	FailedEntryCount int
	Entries          []struct {
		EventId      string
		ErrorCode    string
		ErrorMessage string
	}
}

func decodeResult(t *testing.T, body string) putEventsResult {
	t.Helper()
	var r putEventsResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	return r
}

// deliveredEvent is the envelope a function receives.
type deliveredEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

func decodeEvent(t *testing.T, b []byte) deliveredEvent {
	t.Helper()
	var ev deliveredEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("event %s: %v", b, err)
	}
	return ev
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
