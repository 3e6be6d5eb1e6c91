package localscheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
)

// fakeClock is the scheduler's clock in tests. After hands the wait to the test (timers),
// which moves the clock to the wait's end and ends it: the scheduler only ever waits on one
// timer at a time, so each timer request also means the scheduler is idle.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers chan fakeTimer
}

type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.timers <- fakeTimer{d: d, ch: ch}
	return ch
}

// call is one invocation as the function saw it.
type call struct {
	function string
	at       string // the clock when invoked, RFC 3339
	event    string
}

func (c call) String() string { return fmt.Sprintf("%s at %s: %s", c.function, c.at, c.event) }

// harness runs a Scheduler under the fake clock until it has made a number of invocations.
type harness struct {
	t     *testing.T
	clock *fakeClock
	logs  lockedBuffer

	mu    sync.Mutex
	calls []call
	// onInvoke, when set, decides an invocation's result; n counts the function's calls.
	onInvoke func(function string, n int) error
	// oversleep, when set, makes the clock overshoot the wait that follows the given number
	// of invocations, as a machine waking from sleep does.
	oversleepAfter int
	oversleep      time.Duration
	// fires, when set, is the scheduler's fire log.
	fires FireLog
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t *testing.T, start string) *harness {
	return &harness{t: t, clock: &fakeClock{now: mustTime(t, start), timers: make(chan fakeTimer)}}
}

func (h *harness) invoke(_ context.Context, function string, event []byte) error {
	h.mu.Lock()
	h.calls = append(h.calls, call{function, h.clock.Now().UTC().Format(time.RFC3339), string(event)})
	n := 0
	for _, c := range h.calls {
		if c.function == function {
			n++
		}
	}
	h.mu.Unlock()
	if h.onInvoke != nil {
		return h.onInvoke(function, n)
	}
	return nil
}

func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// run loads the template, runs the scheduler until it has invoked n times, stops it, and
// returns the invocations.
func (h *harness) run(template string, n int) []call {
	t := h.t
	t.Helper()
	tpl, err := samtemplate.Parse([]byte(template))
	if err != nil {
		t.Fatal(err)
	}
	schedules, err := Load(tpl)
	if err != nil {
		t.Fatal(err)
	}
	ids := 0
	s := New(schedules, h.invoke, Options{
		Now:     h.clock.Now,
		After:   h.clock.After,
		Region:  "eu-west-1",
		Account: "111122223333",
		NewID: func() string {
			ids++
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids)
		},
		Logger: slog.New(slog.NewTextHandler(&h.logs, nil)),
		Fires:  h.fires,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	for {
		var tm fakeTimer
		select {
		case tm = <-h.clock.timers:
		case <-done:
			cancel()
			t.Fatalf("Run returned early after %d invocations", h.count())
		case <-time.After(10 * time.Second): // a deadlock guard, never reached when passing
			cancel()
			t.Fatalf("the scheduler stopped asking for timers after %d invocations; logs:\n%s", h.count(), h.logs.String())
		}
		if h.count() >= n {
			break
		}
		d := tm.d
		if h.oversleep > 0 && h.count() == h.oversleepAfter {
			d += h.oversleep
			h.oversleep = 0
		}
		tm.ch <- h.clock.advance(d)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

func checkCalls(t *testing.T, got, want []call) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d invocations, want %d", len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("invocation %d missing, want %s", i+1, want[i])
		case i >= len(want):
			t.Errorf("invocation %d unexpected: %s", i+1, got[i])
		case got[i] != want[i]:
			t.Errorf("invocation %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}

// envelope is EventBridge's scheduled event for a rule, byte for byte as Run delivers it.
func ruleEvent(id int, at, rule string) string {
	return `{"version":"0","id":"00000000-0000-4000-8000-` + fmt.Sprintf("%012d", id) + `","detail-type":"Scheduled Event",` +
		`"source":"aws.events","account":"111122223333","time":"` + at + `","region":"eu-west-1",` +
		`"resources":["arn:aws:events:eu-west-1:111122223333:rule/` + rule + `"],"detail":{}}`
}

// schedulerEvent is EventBridge Scheduler's default notification, detail a JSON string.
func schedulerEvent(id int, at, group, name string) string {
	return `{"version":"0","id":"00000000-0000-4000-8000-` + fmt.Sprintf("%012d", id) + `","detail-type":"Scheduled Event",` +
		`"source":"aws.scheduler","account":"111122223333","time":"` + at + `","region":"eu-west-1",` +
		`"resources":["arn:aws:scheduler:eu-west-1:111122223333:schedule/` + group + `/` + name + `"],"detail":"{}"}`
}

// Scenario: Run starts at 09:50:20 UTC on 1 Jun 2026 with a UTC rule every half hour, a
// London daily ScheduleV2 at 11:00 (10:00 UTC in summer), a 45-minute rate with Input, a
// one-time at(), a disabled rule and an at() in the past. Each function gets its own payload,
// in time order, ties in template order.
func TestSchedulerFiresInOrderWithPayloads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2026-06-01T09:50:20Z")
	got := h.run(`
Resources:
  AlphaFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: cron(0/30 * * * ? *)
            Name: herald-tick
  BetaFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Daily:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 11 * * ? *)
            ScheduleExpressionTimezone: Europe/London
  GammaFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Every45:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(45 minutes)
            Input: '{"x":1}'
        Off:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
        Once:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: at(2026-06-01T10:15:00)
            Input: '{"once":true}'
        Past:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: at(2020-01-01T00:00:00)
`, 6)
	checkCalls(t, got, []call{
		{"AlphaFunction", "2026-06-01T10:00:00Z", ruleEvent(1, "2026-06-01T10:00:00Z", "herald-tick")},
		{"BetaFunction", "2026-06-01T10:00:00Z", schedulerEvent(2, "2026-06-01T10:00:00Z", "default", "BetaFunctionDaily")},
		{"GammaFunction", "2026-06-01T10:15:00Z", `{"once":true}`},
		{"AlphaFunction", "2026-06-01T10:30:00Z", ruleEvent(3, "2026-06-01T10:30:00Z", "herald-tick")},
		{"GammaFunction", "2026-06-01T10:35:00Z", `{"x":1}`},
		{"AlphaFunction", "2026-06-01T11:00:00Z", ruleEvent(4, "2026-06-01T11:00:00Z", "herald-tick")},
	})
	logs := h.logs.String()
	for _, want := range []string{
		`msg="schedule disabled: not firing" function=GammaFunction event=Off`,
		`msg="schedule has no fire time left: not firing" function=GammaFunction event=Past`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// Scenario: one function always fails and another fails once. Each failure is retried after
// 1 s, 5 s and 30 s with the same event (same id), the always-failing one is given up after
// four attempts, and both schedules go on firing at the next minute.
func TestSchedulerRetriesAndContinuesAfterErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2026-06-01T10:00:30Z")
	h.onInvoke = func(function string, n int) error {
		if function == "BrokenFunction" || n == 1 {
			return errors.New("boom")
		}
		return nil
	}
	got := h.run(`
Resources:
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Every:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
  FlakyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Minute:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(* * * * ? *)
            Input: '{"n":1}'
`, 8)
	first := ruleEvent(1, "2026-06-01T10:01:00Z", "BrokenFunctionEvery")
	checkCalls(t, got, []call{
		{"BrokenFunction", "2026-06-01T10:01:00Z", first},
		{"FlakyFunction", "2026-06-01T10:01:00Z", `{"n":1}`},
		{"BrokenFunction", "2026-06-01T10:01:01Z", first},
		{"FlakyFunction", "2026-06-01T10:01:01Z", `{"n":1}`},
		{"BrokenFunction", "2026-06-01T10:01:06Z", first},
		{"BrokenFunction", "2026-06-01T10:01:36Z", first},
		{"BrokenFunction", "2026-06-01T10:02:00Z", ruleEvent(2, "2026-06-01T10:02:00Z", "BrokenFunctionEvery")},
		{"FlakyFunction", "2026-06-01T10:02:00Z", `{"n":1}`},
	})
	logs := h.logs.String()
	if n := strings.Count(logs, "scheduled invocation failed: retrying"); n != 5 {
		t.Errorf("%d retry lines, want 5 (3 + 1 + the 10:02 failure):\n%s", n, logs)
	}
	if n := strings.Count(logs, "scheduled invocation failed: giving up"); n != 1 {
		t.Errorf("%d give-up lines, want 1:\n%s", n, logs)
	}
}

// Scenario: a rate(1 minute) function runs for 2.5 minutes once, then the machine sleeps
// 10 minutes. Fire times missed meanwhile are not caught up; one less than a minute late
// still fires (with its own time in the event); the rate keeps its phase.
func TestSchedulerDoesNotCatchUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2026-06-01T10:00:30Z")
	h.onInvoke = func(function string, n int) error {
		if n == 1 {
			h.clock.advance(150 * time.Second)
		}
		return nil
	}
	h.oversleepAfter, h.oversleep = 3, 10*time.Minute
	got := h.run(`
Resources:
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Every:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
`, 5)
	ev := func(id int, at string) string { return ruleEvent(id, at, "SlowFunctionEvery") }
	checkCalls(t, got, []call{
		{"SlowFunction", "2026-06-01T10:01:00Z", ev(1, "2026-06-01T10:01:00Z")},
		// 10:02 was missed while the first run lasted; 10:03 is 30 s late and still fires.
		{"SlowFunction", "2026-06-01T10:03:30Z", ev(2, "2026-06-01T10:03:00Z")},
		{"SlowFunction", "2026-06-01T10:04:00Z", ev(3, "2026-06-01T10:04:00Z")},
		// Asleep from 10:04 to 10:15: 10:05-10:14 are skipped.
		{"SlowFunction", "2026-06-01T10:15:00Z", ev(4, "2026-06-01T10:15:00Z")},
		{"SlowFunction", "2026-06-01T10:16:00Z", ev(5, "2026-06-01T10:16:00Z")},
	})
	logs := h.logs.String()
	for _, want := range []string{"missed fire times: not caught up", "missed fire time: not caught up"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// Scenario: a ScheduleV2 every half hour in New York across the fall-back night: 01:00 and
// 01:30 EDT fire, the repeated 01:00 and 01:30 EST do not, then 02:00 EST.
func TestSchedulerDaylightSavingFallBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2026-11-01T04:50:00Z")
	got := h.run(`
Resources:
  NightFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        HalfHour:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0/30 * * * ? *)
            ScheduleExpressionTimezone: America/New_York
            Name: night
            GroupName: herald
`, 4)
	ev := func(id int, at string) string { return schedulerEvent(id, at, "herald", "night") }
	checkCalls(t, got, []call{
		{"NightFunction", "2026-11-01T05:00:00Z", ev(1, "2026-11-01T05:00:00Z")},
		{"NightFunction", "2026-11-01T05:30:00Z", ev(2, "2026-11-01T05:30:00Z")},
		{"NightFunction", "2026-11-01T07:00:00Z", ev(3, "2026-11-01T07:00:00Z")},
		{"NightFunction", "2026-11-01T07:30:00Z", ev(4, "2026-11-01T07:30:00Z")},
	})
}

// Scenario: ScheduleV2 StartDate and EndDate. A rate anchors on its StartDate (a past one
// keeps its phase, :07), a cron waits for its StartDate, and nothing fires after EndDate.
func TestSchedulerStartAndEndDates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2026-06-01T09:50:20Z")
	got := h.run(`
Resources:
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Windowed:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(10 minutes)
            StartDate: "2026-06-01T09:55:00Z"
            EndDate: "2026-06-01T10:10:00Z"
            Input: '{"w":1}'
  BFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        PastStart:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            StartDate: "2026-05-31T00:07:00Z"
            Input: '{"p":1}'
  CFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Later:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 * * * ? *)
            StartDate: "2026-06-01T12:30:00Z"
            Input: '{"l":1}'
`, 6)
	checkCalls(t, got, []call{
		{"AFunction", "2026-06-01T09:55:00Z", `{"w":1}`},
		{"AFunction", "2026-06-01T10:05:00Z", `{"w":1}`},
		{"BFunction", "2026-06-01T10:07:00Z", `{"p":1}`},
		{"BFunction", "2026-06-01T11:07:00Z", `{"p":1}`},
		{"BFunction", "2026-06-01T12:07:00Z", `{"p":1}`},
		{"CFunction", "2026-06-01T13:00:00Z", `{"l":1}`},
	})
}

func TestNewUUID(t *testing.T) {
	t.Parallel()
	a, b := newUUID(), newUUID()
	if a == b || len(a) != 36 || a[14] != '4' || !strings.ContainsRune("89ab", rune(a[19])) || strings.Count(a, "-") != 4 {
		t.Errorf("newUUID() = %q, %q: want distinct version 4 UUIDs", a, b)
	}
}

// Scenario: rate(1 day) in a process restarted every night. With the fire log the rate keeps
// the phase of its last fire across the restart and fires daily; without it, each start would
// count a day from itself and never fire.
func TestSchedulerRateKeepsItsPhaseAcrossRestarts(t *testing.T) {
	t.Parallel()
	db, err := sqlitedb.Open(context.Background(), t.TempDir(), sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fires, err := sqlitestore.NewFireLog(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	const tmpl = `
Resources:
  DailyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Daily:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
`
	first := newHarness(t, "2026-06-01T09:00:30Z")
	first.fires = fires
	got := first.run(tmpl, 1)
	if len(got) != 1 || got[0].at != "2026-06-02T09:00:00Z" {
		t.Fatalf("first run: %v", got)
	}
	// Restarted at 03:00 the next night: the next fire is 09:00 that day, a day after the last.
	second := newHarness(t, "2026-06-03T03:00:00Z")
	second.fires = fires
	got = second.run(tmpl, 1)
	if len(got) != 1 || got[0].at != "2026-06-03T09:00:00Z" {
		t.Fatalf("after the restart: %v, want a fire at 2026-06-03T09:00:00Z", got)
	}
}
