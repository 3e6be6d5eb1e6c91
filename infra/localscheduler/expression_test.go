package localscheduler

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

type nextCase struct {
	name  string
	expr  string
	tz    string // empty: UTC
	after string
	// want is the next fire times in order (RFC 3339); the last entry "never" means Next
	// reports no further fire time.
	want []string
}

// Examples from the EventBridge guide's cron and rate tables, with the meaning it gives each.
var documentedCases = []nextCase{
	{name: "10:00 every day", expr: "cron(0 10 * * ? *)", after: "2026-03-02T09:59:59Z",
		want: []string{"2026-03-02T10:00:00Z", "2026-03-03T10:00:00Z"}},
	{name: "12:15 every day", expr: "cron(15 12 * * ? *)", after: "2026-03-02T12:15:30Z",
		want: []string{"2026-03-03T12:15:00Z"}},
	{name: "18:00 Monday through Friday", expr: "cron(0 18 ? * MON-FRI *)", after: "2026-03-05T18:00:00Z",
		want: []string{"2026-03-06T18:00:00Z", "2026-03-09T18:00:00Z"}},
	{name: "08:00 on the 1st of every month", expr: "cron(0 8 1 * ? *)", after: "2026-03-01T08:00:00Z",
		want: []string{"2026-04-01T08:00:00Z", "2026-05-01T08:00:00Z"}},
	{name: "every 15 minutes", expr: "cron(0/15 * * * ? *)", after: "2026-03-02T10:07:00Z",
		want: []string{"2026-03-02T10:15:00Z", "2026-03-02T10:30:00Z", "2026-03-02T10:45:00Z", "2026-03-02T11:00:00Z"}},
	{name: "every 10 minutes Monday through Friday", expr: "cron(0/10 * ? * MON-FRI *)", after: "2026-03-06T23:45:00Z",
		want: []string{"2026-03-06T23:50:00Z", "2026-03-09T00:00:00Z"}},
	{name: "every 5 minutes Mon-Fri between 8:00 am and 5:55 pm", expr: "cron(0/5 8-17 ? * MON-FRI *)", after: "2026-03-06T17:50:00Z",
		want: []string{"2026-03-06T17:55:00Z", "2026-03-09T08:00:00Z", "2026-03-09T08:05:00Z"}},
	{name: "every 30 minutes Mon-Fri 10 pm to 2 am: the hour range wraps", expr: "cron(0/30 20-2 ? * MON-FRI *)", after: "2026-03-03T01:00:00Z",
		want: []string{"2026-03-03T01:30:00Z", "2026-03-03T02:00:00Z", "2026-03-03T02:30:00Z", "2026-03-03T20:00:00Z"}},
	{name: "12:00 every day (put-rule example)", expr: "cron(0 12 * * ? *)", after: "2026-03-02T12:00:00Z",
		want: []string{"2026-03-03T12:00:00Z"}},
	{name: "14:05 and 14:35 every day", expr: "cron(5,35 14 * * ? *)", after: "2026-03-02T14:05:00Z",
		want: []string{"2026-03-02T14:35:00Z", "2026-03-03T14:05:00Z"}},
	{name: "10:15 on the last Friday of each month, 2019 to 2022", expr: "cron(15 10 ? * 6L 2019-2022)", after: "2019-01-01T00:00:00Z",
		want: []string{"2019-01-25T10:15:00Z", "2019-02-22T10:15:00Z"}},
	{name: "the last Friday of 2022 is the last fire time", expr: "cron(15 10 ? * 6L 2019-2022)", after: "2022-12-01T00:00:00Z",
		want: []string{"2022-12-30T10:15:00Z", "never"}},
	{name: "1/10 is the 1st, 11th, 21st minute ...", expr: "cron(1/10 * * * ? *)", after: "2026-03-02T10:45:00Z",
		want: []string{"2026-03-02T10:51:00Z", "2026-03-02T11:01:00Z", "2026-03-02T11:11:00Z"}},
	{name: "rate(1 minute)", expr: "rate(1 minute)", after: "2026-03-02T10:00:00Z",
		want: []string{"2026-03-02T10:01:00Z", "2026-03-02T10:02:00Z"}},
	{name: "rate(5 minutes) from a time within a minute", expr: "rate(5 minutes)", after: "2026-03-02T10:02:30Z",
		want: []string{"2026-03-02T10:07:00Z", "2026-03-02T10:12:00Z"}},
	{name: "rate(1 hour)", expr: "rate(1 hour)", after: "2026-03-02T10:00:00Z",
		want: []string{"2026-03-02T11:00:00Z"}},
	{name: "rate(1 day)", expr: "rate(1 day)", after: "2026-03-02T10:00:00Z",
		want: []string{"2026-03-03T10:00:00Z"}},
}

// The wildcards one by one: L, W, #, ranges, steps, names, Feb 29 and the year field.
var wildcardCases = []nextCase{
	{name: "L: last day of February", expr: "cron(0 0 L * ? *)", after: "2026-02-01T00:00:00Z",
		want: []string{"2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"}},
	{name: "L: last day of February in a leap year", expr: "cron(0 0 L 2 ? *)", after: "2027-03-01T00:00:00Z",
		want: []string{"2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"}},
	{name: "LW: 31 Jan 2026 is a Saturday, so Friday the 30th", expr: "cron(0 0 LW * ? *)", after: "2026-01-01T00:00:00Z",
		want: []string{"2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"}},
	{name: "LW: 31 May 2026 is a Sunday, so Friday the 29th", expr: "cron(0 0 LW 5 ? *)", after: "2026-01-01T00:00:00Z",
		want: []string{"2026-05-29T00:00:00Z"}},
	{name: "3W: the 3rd of March 2026 is a Tuesday", expr: "cron(0 9 3W * ? *)", after: "2026-03-01T00:00:00Z",
		want: []string{"2026-03-03T09:00:00Z"}},
	{name: "15W: Sunday 15 Feb 2026 moves to Monday", expr: "cron(0 9 15W * ? *)", after: "2026-02-01T00:00:00Z",
		want: []string{"2026-02-16T09:00:00Z"}},
	{name: "1W: Saturday 1 Aug 2026 moves forward to Monday the 3rd, not back into July", expr: "cron(0 9 1W 8 ? *)", after: "2026-07-01T00:00:00Z",
		want: []string{"2026-08-03T09:00:00Z"}},
	{name: "31W: skips April, and Sunday 31 May moves back to Friday", expr: "cron(0 9 31W * ? *)", after: "2026-04-01T00:00:00Z",
		want: []string{"2026-05-29T09:00:00Z"}},
	{name: "3#2: second Tuesday", expr: "cron(0 9 ? * 3#2 *)", after: "2026-03-01T00:00:00Z",
		want: []string{"2026-03-10T09:00:00Z", "2026-04-14T09:00:00Z"}},
	{name: "MON#5: a fifth Monday only in the months that have one", expr: "cron(0 9 ? * MON#5 *)", after: "2026-03-31T00:00:00Z",
		want: []string{"2026-06-29T09:00:00Z"}},
	{name: "day-of-week L alone: Saturday, the last day of the week", expr: "cron(0 0 ? * L *)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-03-07T00:00:00Z", "2026-03-14T00:00:00Z"}},
	{name: "FRIL: last Friday, by name", expr: "cron(0 0 ? * FRIL *)", after: "2026-03-01T00:00:00Z",
		want: []string{"2026-03-27T00:00:00Z"}},
	{name: "day-of-week 1 is Sunday", expr: "cron(0 0 ? * 1 *)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-03-08T00:00:00Z"}},
	{name: "day names are case-insensitive, 7 is Saturday", expr: "cron(0 0 ? * sun,7 *)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-03-07T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-14T00:00:00Z"}},
	{name: "day-of-week range wraps: FRI-MON", expr: "cron(0 0 ? * FRI-MON *)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-03-06T00:00:00Z", "2026-03-07T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", "2026-03-13T00:00:00Z"}},
	{name: "month names and a wrapping month range: NOV-FEB", expr: "cron(0 0 1 NOV-FEB ? *)", after: "2026-02-01T00:00:00Z",
		want: []string{"2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", "2027-11-01T00:00:00Z"}},
	{name: "month list with names", expr: "cron(0 0 1 JAN,jul ? *)", after: "2026-01-01T00:00:00Z",
		want: []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
	{name: "range with a step", expr: "cron(10-30/10 9 * * ? *)", after: "2026-03-02T09:00:00Z",
		want: []string{"2026-03-02T09:10:00Z", "2026-03-02T09:20:00Z", "2026-03-02T09:30:00Z", "2026-03-03T09:10:00Z"}},
	{name: "*/20 hours", expr: "cron(0 */20 * * ? *)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-03-02T20:00:00Z", "2026-03-03T00:00:00Z"}},
	{name: "day-of-month list and range", expr: "cron(0 0 1,15-16 * ? *)", after: "2026-03-01T00:00:00Z",
		want: []string{"2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z", "2026-04-01T00:00:00Z"}},
	{name: "degenerate ranges AWS accepts (8-8, 1-31/30)", expr: "cron(1-31/30 8-8 ? * 2,4,6 *)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-03-02T08:01:00Z", "2026-03-02T08:31:00Z", "2026-03-04T08:01:00Z"}},
	{name: "Feb 29 waits for the next leap year", expr: "cron(0 0 29 2 ? *)", after: "2026-01-01T00:00:00Z",
		want: []string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
	{name: "Feb 29 in years without one never fires", expr: "cron(0 0 29 FEB ? 2026-2027)", after: "2026-01-01T00:00:00Z",
		want: []string{"never"}},
	{name: "Feb 30 never fires", expr: "cron(0 0 30 2 ? *)", after: "2026-01-01T00:00:00Z",
		want: []string{"never"}},
	{name: "a single year", expr: "cron(0 0 1 1 ? 2030)", after: "2026-06-01T00:00:00Z",
		want: []string{"2030-01-01T00:00:00Z", "never"}},
	{name: "years with a step", expr: "cron(0 0 1 1 ? 2026-2030/2)", after: "2025-06-01T00:00:00Z",
		want: []string{"2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "never"}},
	{name: "the year field ends at 2199", expr: "cron(59 23 31 12 ? *)", after: "2199-06-01T00:00:00Z",
		want: []string{"2199-12-31T23:59:00Z", "never"}},
	{name: "before 1970 starts at 1970", expr: "cron(0 0 1 1 ? *)", after: "1900-06-01T00:00:00Z",
		want: []string{"1970-01-01T00:00:00Z"}},
	{name: "at(): once", expr: "at(2026-11-20T13:00:00)", after: "2026-03-02T00:00:00Z",
		want: []string{"2026-11-20T13:00:00Z", "never"}},
	{name: "at() in the past never fires", expr: "at(2020-11-20T13:00:00)", after: "2026-03-02T00:00:00Z",
		want: []string{"never"}},
}

// ScheduleV2 in a time zone: the Scheduler guide's daylight-saving rules (see the package
// documentation). London springs forward 29 Mar 2026 01:00 GMT -> 02:00 BST and falls back
// 25 Oct 2026 02:00 BST -> 01:00 GMT; New York springs forward 8 Mar 2026 02:00 EST -> 03:00
// EDT and falls back 1 Nov 2026 02:00 EDT -> 01:00 EST.
var dstCases = []nextCase{
	{name: "London: 01:30 does not exist on 29 Mar, so that day is skipped", expr: "cron(30 1 * * ? *)", tz: "Europe/London", after: "2026-03-28T02:00:00Z",
		want: []string{"2026-03-30T00:30:00Z"}},
	{name: "London: 02:00 exists on 29 Mar (the gap is 01:00-01:59)", expr: "cron(0 2 * * ? *)", tz: "Europe/London", after: "2026-03-28T03:00:00Z",
		want: []string{"2026-03-29T01:00:00Z"}},
	{name: "London: every 20 minutes goes from 00:40 GMT to 02:00 BST", expr: "cron(0/20 * * * ? *)", tz: "Europe/London", after: "2026-03-29T00:20:00Z",
		want: []string{"2026-03-29T00:40:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:20:00Z"}},
	{name: "London: 01:30 on 25 Oct fires once, at 01:30 BST", expr: "cron(30 1 * * ? *)", tz: "Europe/London", after: "2026-10-24T12:00:00Z",
		want: []string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
	{name: "London: every 20 minutes skips the repeated 01:00-01:40 GMT", expr: "cron(0/20 * * * ? *)", tz: "Europe/London", after: "2026-10-24T23:50:00Z",
		want: []string{"2026-10-25T00:00:00Z", "2026-10-25T00:20:00Z", "2026-10-25T00:40:00Z", "2026-10-25T02:00:00Z"}},
	{name: "New York: 02:30 does not exist on 8 Mar, so that day is skipped", expr: "cron(30 2 * * ? *)", tz: "America/New_York", after: "2026-03-07T08:00:00Z",
		want: []string{"2026-03-09T06:30:00Z"}},
	{name: "New York: every 15 minutes goes from 01:45 EST to 03:00 EDT", expr: "cron(0/15 * * * ? *)", tz: "America/New_York", after: "2026-03-08T06:30:00Z",
		want: []string{"2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z"}},
	{name: "New York: noon stays noon across the change (23 h later)", expr: "cron(0 12 * * ? *)", tz: "America/New_York", after: "2026-03-07T17:00:00Z",
		want: []string{"2026-03-08T16:00:00Z"}},
	{name: "New York: 01:30 on 1 Nov fires once, at 01:30 EDT", expr: "cron(30 1 * * ? *)", tz: "America/New_York", after: "2026-10-31T12:00:00Z",
		want: []string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
	{name: "New York: every 15 minutes runs 01:00-01:45 EDT once, then 02:00 EST", expr: "cron(0/15 * * * ? *)", tz: "America/New_York", after: "2026-11-01T05:30:00Z",
		want: []string{"2026-11-01T05:45:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z"}},
	{name: "New York: starting inside the repeated hour (01:10 EST) waits for 02:00 EST", expr: "cron(0/15 * * * ? *)", tz: "America/New_York", after: "2026-11-01T06:10:00Z",
		want: []string{"2026-11-01T07:00:00Z"}},
	{name: "New York: rate(1 day) is 24 hours, not the same wall time", expr: "rate(1 day)", tz: "America/New_York", after: "2026-03-07T17:00:00Z",
		want: []string{"2026-03-08T17:00:00Z", "2026-03-09T17:00:00Z"}},
	{name: "New York: at() in the repeated hour fires at its first occurrence", expr: "at(2026-11-01T01:30:00)", tz: "America/New_York", after: "2026-10-31T00:00:00Z",
		want: []string{"2026-11-01T05:30:00Z", "never"}},
	{name: "New York: at() in the gap never fires", expr: "at(2026-03-08T02:30:00)", tz: "America/New_York", after: "2026-03-01T00:00:00Z",
		want: []string{"never"}},
	{name: "Tokyo has no DST: 09:00 JST is 00:00 UTC", expr: "cron(0 9 ? * MON-FRI *)", tz: "Asia/Tokyo", after: "2026-03-06T00:00:00Z",
		want: []string{"2026-03-09T00:00:00Z"}},
}

func runNextCases(t *testing.T, cases []nextCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(tc.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.expr, err)
			}
			loc := time.UTC
			if tc.tz != "" {
				loc = mustLoc(t, tc.tz)
			}
			after := mustTime(t, tc.after)
			for i, w := range tc.want {
				got, ok := e.Next(after, loc)
				if w == "never" {
					if ok {
						t.Fatalf("fire %d: got %s, want no further fire time", i+1, got.UTC().Format(time.RFC3339))
					}
					return
				}
				want := mustTime(t, w)
				if !ok || !got.Equal(want) {
					t.Fatalf("fire %d after %s: got %s (ok=%v), want %s (%s)", i+1, after.UTC().Format(time.RFC3339),
						got.UTC().Format(time.RFC3339), ok, w, want.In(loc).Format("2006-01-02 15:04 MST"))
				}
				after = got
			}
		})
	}
}

func TestNextDocumentedExamples(t *testing.T) {
	t.Parallel()
	runNextCases(t, documentedCases)
}

func TestNextWildcards(t *testing.T) {
	t.Parallel()
	runNextCases(t, wildcardCases)
}

func TestNextDaylightSaving(t *testing.T) {
	t.Parallel()
	runNextCases(t, dstCases)
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want string // a fragment of the error
	}{
		// rate
		{"rate(1 minutes)", `singular unit "minute"`},
		{"rate(1 hours)", `singular unit "hour"`},
		{"rate(5 hour)", `plural unit "hours"`},
		{"rate(2 day)", `plural unit "days"`},
		{"rate(0 minutes)", "positive whole number"},
		{"rate(-5 minutes)", "positive whole number"},
		{"rate(+5 minutes)", "positive whole number"},
		{"rate(1.5 hours)", "positive whole number"},
		{"rate(2 weeks)", `unknown unit "weeks"`},
		{"rate(30 seconds)", `unknown unit "seconds"`},
		{"rate(5 Minutes)", `unknown unit "Minutes"`},
		{"rate(5minutes)", "got 1 words"},
		{"rate(5 minutes please)", "got 3 words"},
		{"rate()", "got 0 words"},
		{"rate(99999999999 days)", "more than a century"},
		// cron: shape
		{"cron(0 10 * * ?)", "5 fields, but AWS cron takes 6"},
		{"cron(0 0 10 * * ? *)", "7 fields"},
		{"cron(0 10 * *)", "4 fields"},
		{"cron()", "0 fields"},
		// cron: the day fields
		{"cron(0 10 * * * *)", "both set: one of them must be ?"},
		{"cron(0 10 1 * MON *)", "both set: one of them must be ?"},
		{"cron(0 10 ? * ? *)", "both ?"},
		// cron: ranges and values
		{"cron(60 * * * ? *)", "60 is out of range: minutes runs 0-59"},
		{"cron(0 24 * * ? *)", "24 is out of range: hours runs 0-23"},
		{"cron(0 0 32 * ? *)", "32 is out of range: day-of-month runs 1-31"},
		{"cron(0 0 0 * ? *)", "0 is out of range: day-of-month runs 1-31"},
		{"cron(0 0 1 13 ? *)", "13 is out of range: month runs 1-12 (JAN-DEC)"},
		{"cron(0 0 ? * 0 *)", "0 is out of range: day-of-week runs 1-7 (SUN-SAT)"},
		{"cron(0 0 ? * 8 *)", "8 is out of range: day-of-week runs 1-7"},
		{"cron(0 0 1 1 ? 1969)", "1969 is out of range: year runs 1970-2199"},
		{"cron(0 0 1 1 ? 2200)", "2200 is out of range"},
		{"cron(0 0 1 1 ? 2030-2026)", "range 2030-2026 runs backwards"},
		{"cron(0-60 * * * ? *)", "60 is out of range"},
		{"cron(*/0 * * * ? *)", `step "0" must be a positive whole number`},
		{"cron(5/x * * * ? *)", `step "x"`},
		{"cron(0/61 * * * ? *)", "step 61 is larger than the field's 60 values"},
		{"cron(1,,2 * * * ? *)", "empty item"},
		{"cron(0 0 ? FOO * *)", `unknown month value "FOO"`},
		{"cron(0 0 ? * FUN *)", `unknown day-of-week value "FUN"`},
		{"cron(0 0 1- * ? *)", "missing value"},
		// cron: specials in the wrong place
		{"cron(? 0 1 * ? *)", "? is only allowed in day-of-month or day-of-week"},
		{"cron(0 0 1 * ? #)", "# is only allowed in day-of-week"},
		{"cron(0 0 3#2 * ? *)", "# is only allowed in day-of-week"},
		{"cron(L 0 1 * ? *)", `unknown minutes value "L"`},
		{"cron(0 0 ? * 3W *)", "W is only allowed in day-of-month"},
		{"cron(0 0 1,L * ? *)", "L and W stand alone"},
		{"cron(0 0 L-3 * ? *)", "L and W stand alone"},
		{"cron(0 0 32W * ? *)", "W follows one day, 1-31"},
		{"cron(0 0 ? * 3#6 *)", "the week of the month, 1-5"},
		{"cron(0 0 ? * 3#1,6#3 *)", "one expression only"},
		{"cron(0 0 ? * 1-5L *)", "L stands alone"},
		{"cron(0 0 ? * 9L *)", "L stands alone"},
		// at
		{"at(2026-13-01T00:00:00)", "want at(yyyy-mm-ddThh:mm:ss)"},
		{"at(2026-01-01 00:00:00)", "want at(yyyy-mm-ddThh:mm:ss)"},
		{"at(2026-01-01T00:00:00Z)", "want at(yyyy-mm-ddThh:mm:ss)"},
		// not an expression
		{"every 5 minutes", "is not a schedule expression"},
		{"CRON(0 10 * * ? *)", "is not a schedule expression"},
		{"cron(0 10 * * ? *", "is not a schedule expression"},
		{"0 10 * * ? *", "is not a schedule expression"},
		{"", "is not a schedule expression"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tc.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want one containing %q", tc.expr, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) error %q, want it to contain %q", tc.expr, err, tc.want)
			}
		})
	}
}

func TestParseKeepsText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr     string
		kind     Kind
		interval time.Duration
	}{
		{" rate(10 minutes) ", Rate, 10 * time.Minute},
		{"rate(2 hours)", Rate, 2 * time.Hour},
		{"rate(7 days)", Rate, 7 * 24 * time.Hour},
		{"cron(0 10 * * ? *)", Cron, 0},
		{"cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)", Cron, 0},
		{"at(2026-11-20T13:00:00)", At, 0},
	}
	for _, tc := range cases {
		e, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.expr, err)
		}
		if e.Kind() != tc.kind || e.Interval() != tc.interval || e.String() != strings.TrimSpace(tc.expr) {
			t.Errorf("Parse(%q) = %v %v %q", tc.expr, e.Kind(), e.Interval(), e.String())
		}
	}
	if _, ok := (Expression{}).Next(time.Now(), nil); ok {
		t.Error("the zero Expression fires")
	}
}
