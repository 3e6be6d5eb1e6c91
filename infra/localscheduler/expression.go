package localscheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Kind is the form of a schedule expression.
type Kind int

// The three forms EventBridge Scheduler takes; EventBridge rules take Rate and Cron only.
const (
	// Rate is rate(value unit): a fixed interval.
	Rate Kind = iota + 1
	// Cron is cron(minutes hours day-of-month month day-of-week year).
	Cron
	// At is at(yyyy-mm-ddThh:mm:ss): one time, in the schedule's time zone.
	At
)

func (k Kind) String() string {
	switch k {
	case Rate:
		return "rate"
	case Cron:
		return "cron"
	case At:
		return "at"
	}
	return "invalid"
}

// Expression is a parsed AWS schedule expression. The zero value never fires.
type Expression struct {
	text  string
	kind  Kind
	every time.Duration // Rate
	cron  *cronSpec     // Cron
	at    civil         // At
}

// Kind reports the expression's form.
func (e Expression) Kind() Kind { return e.kind }

// String returns the expression as written.
func (e Expression) String() string { return e.text }

// Interval is a rate expression's interval, zero for the other forms.
func (e Expression) Interval() time.Duration { return e.every }

// Every is a rate that EventBridge cannot express: every d (under a minute allowed), aligned to
// multiples of d. The local runner uses it when a setting shortens a template's rate for tests
// and demos (herald -email-interval 5s); it never comes from a template.
func Every(d time.Duration) Expression {
	return Expression{text: "every " + d.String() + " (local setting)", kind: Rate, every: d}
}

// Parse reads rate(value unit), cron(six fields) or at(yyyy-mm-ddThh:mm:ss), with the rules of
// the EventBridge and EventBridge Scheduler user guides (see the package documentation).
func Parse(expr string) (Expression, error) {
	s := strings.TrimSpace(expr)
	inner, kind, ok := cutCall(s)
	if !ok {
		return Expression{}, fmt.Errorf("%q is not a schedule expression: want rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)", expr)
	}
	e := Expression{text: s, kind: kind}
	var err error
	switch kind {
	case Rate:
		e.every, err = parseRate(inner)
	case Cron:
		e.cron, err = parseCron(inner)
	case At:
		e.at, err = parseAt(inner)
	}
	if err != nil {
		return Expression{}, fmt.Errorf("%s: %w", s, err)
	}
	return e, nil
}

// cutCall splits "name(inner)" for the three expression names, which AWS spells in lower case.
func cutCall(s string) (inner string, kind Kind, ok bool) {
	for _, c := range []struct {
		prefix string
		kind   Kind
	}{{"rate(", Rate}, {"cron(", Cron}, {"at(", At}} {
		if rest, found := strings.CutPrefix(s, c.prefix); found {
			if body, closed := strings.CutSuffix(rest, ")"); closed {
				return body, c.kind, true
			}
		}
	}
	return "", 0, false
}

var rateUnits = map[string]struct {
	per      time.Duration
	singular bool
	other    string
}{
	"minute":  {time.Minute, true, "minutes"},
	"minutes": {time.Minute, false, "minute"},
	"hour":    {time.Hour, true, "hours"},
	"hours":   {time.Hour, false, "hour"},
	"day":     {24 * time.Hour, true, "days"},
	"days":    {24 * time.Hour, false, "day"},
}

// parseRate reads "value unit". The EventBridge guide: "If the value is equal to 1, then the
// unit must be singular. If the value is greater than 1, the unit must be plural", so
// rate(1 hours) and rate(5 hour) are refused as EventBridge's PutRule refuses them. A day is
// 24 hours whatever the time zone does (the Scheduler guide's daylight-saving section).
func parseRate(inner string) (time.Duration, error) {
	parts := strings.Fields(inner)
	if len(parts) != 2 {
		return 0, fmt.Errorf("want rate(value unit), e.g. rate(5 minutes), got %d words", len(parts))
	}
	value, unit := parts[0], parts[1]
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n <= 0 || strings.TrimLeft(value, "0123456789") != "" {
		return 0, fmt.Errorf("the value must be a positive whole number, got %q", value)
	}
	u, ok := rateUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: want minute(s), hour(s) or day(s)", unit)
	}
	if n == 1 && !u.singular {
		return 0, fmt.Errorf("a value of 1 takes the singular unit %q", u.other)
	}
	if n > 1 && u.singular {
		return 0, fmt.Errorf("a value above 1 takes the plural unit %q", u.other)
	}
	// Beyond ~100 years a rate never fires in practice and the Duration would overflow soon after.
	if n > int64(100*365*24*time.Hour/u.per) {
		return 0, fmt.Errorf("%d %s is more than a century", n, unit)
	}
	return time.Duration(n) * u.per, nil
}

// atLayout is the Scheduler's one-time format, a local time without zone: the zone is the
// schedule's ScheduleExpressionTimezone.
const atLayout = "2006-01-02T15:04:05"

func parseAt(inner string) (civil, error) {
	t, err := time.Parse(atLayout, strings.TrimSpace(inner))
	if err != nil {
		return civil{}, fmt.Errorf("want at(yyyy-mm-ddThh:mm:ss), e.g. at(2026-11-20T13:00:00): %w", err)
	}
	return civilOf(t), nil
}

// Next returns the first time strictly after `after` at which the expression fires, evaluated
// in loc (UTC when nil); ok is false when it never fires again (an at() in the past, or a cron
// whose year field has run out).
//
//   - rate: after, cut to the whole minute, plus the interval. The interval is absolute time:
//     rate(1 day) is 24 hours even across a daylight-saving change, as the Scheduler guide
//     says, so loc is not used. Where the first interval starts is the Scheduler's business
//     (see Scheduler), not the expression's.
//   - cron: the first local wall-clock minute that matches, at its first occurrence. A wall
//     time that a spring-forward gap skips does not exist and is skipped ("your schedule
//     invocation is skipped"); a wall time that a fall-back repeats fires once, at its first
//     (daylight-time) occurrence ("runs only once and does not repeat its invocation"). That
//     holds for sub-hourly schedules too: cron(0/15 * * * ? *) in America/New_York fires
//     01:00-01:45 EDT on the fall-back night, not again at 01:00-01:45 EST, then 02:00 EST.
//   - at: that local time (first occurrence if it is repeated), if after `after`. A local time
//     in a gap never fires; Load refuses such a schedule.
func (e Expression) Next(after time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	switch e.kind {
	case Rate:
		if e.every < time.Minute {
			return after.Truncate(e.every).Add(e.every), true
		}
		return after.Truncate(time.Minute).Add(e.every), true
	case At:
		t, ok := e.at.resolve(loc)
		if !ok || !t.After(after) {
			return time.Time{}, false
		}
		return t, true
	case Cron:
		return e.cron.next(after, loc)
	}
	return time.Time{}, false
}

// civil is a wall-clock time without a zone.
type civil struct {
	year, month, day, hour, minute, second int
}

func civilOf(t time.Time) civil {
	return civil{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()}
}

func (c civil) String() string {
	return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

// resolve returns the earliest instant whose wall clock in loc reads c; ok is false when c
// falls in a gap. time.Date does not promise which of two repeated instants it returns, hence
// the explicit search: the candidates are c read with each UTC offset loc uses within a day
// either side (zones change offset at most twice in such a window).
func (c civil) resolve(loc *time.Location) (time.Time, bool) {
	naive := time.Date(c.year, time.Month(c.month), c.day, c.hour, c.minute, c.second, 0, time.UTC)
	var best time.Time
	found := false
	seen := map[int]bool{}
	for _, probe := range []time.Duration{-26 * time.Hour, -14 * time.Hour, 0, 14 * time.Hour, 26 * time.Hour} {
		_, off := naive.Add(probe).In(loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		u := naive.Add(-time.Duration(off) * time.Second)
		if civilOf(u.In(loc)) != c {
			continue
		}
		if !found || u.Before(best) {
			best, found = u, true
		}
	}
	return best, found
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func weekday(year, month, day int) time.Weekday {
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).Weekday()
}
