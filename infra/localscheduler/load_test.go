package localscheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/samtemplate"
)

// scheduledTemplate has one function of each kind, plus a function with a non-schedule event,
// parameters referenced with !Ref, and a disabled schedule of each kind.
const scheduledTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  DigestSchedule:
    Type: String
    Default: cron(0 8 ? * MON-FRI *)
  DigestTimezone:
    Type: String
    Default: Europe/London
  CleanupState:
    Type: String
    Default: DISABLED
Globals:
  Function:
    Runtime: provided.al2023
Resources:
  DigestFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/digest/
      Events:
        Weekday:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: !Ref DigestSchedule
            ScheduleExpressionTimezone: !Ref DigestTimezone
        Once:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: at(2026-11-01T01:30:00)
            ScheduleExpressionTimezone: America/New_York
            Input: '{"kind":"once"}'
            Name: digest-once
            GroupName: herald
        Paused:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            State: !Ref CleanupState
            StartDate: "2026-01-01T00:00:00Z"
            EndDate: "2027-01-01T00:00:00.000Z"
  CleanupFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/cleanup/
      Events:
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
            Input: '{"older_than":"720h"}'
            Name: herald-cleanup
        Hourly:
          Type: Schedule
          Properties:
            Schedule: rate(1 hour)
            Enabled: false
        Legacy:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            State: ENABLED
        Queue:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:123456789012:q
  Table:
    Type: AWS::DynamoDB::Table
`

func TestLoadReadsBothKinds(t *testing.T) {
	t.Parallel()
	tpl, err := samtemplate.Parse([]byte(scheduledTemplate))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(tpl)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	type row struct {
		function, event string
		typ             EventType
		expr, tz        string
		enabled         bool
		input           string
		name, group     string
		start, end      string
	}
	want := []row{
		{"CleanupFunction", "Hourly", TypeSchedule, "rate(1 hour)", "UTC", false, "", "CleanupFunctionHourly", "", "", ""},
		{"CleanupFunction", "Legacy", TypeSchedule, "rate(5 minutes)", "UTC", true, "", "CleanupFunctionLegacy", "", "", ""},
		{"CleanupFunction", "Nightly", TypeSchedule, "cron(0 3 * * ? *)", "UTC", true, `{"older_than":"720h"}`, "herald-cleanup", "", "", ""},
		{"DigestFunction", "Once", TypeScheduleV2, "at(2026-11-01T01:30:00)", "America/New_York", true, `{"kind":"once"}`, "digest-once", "herald", "", ""},
		{"DigestFunction", "Paused", TypeScheduleV2, "rate(1 hour)", "UTC", false, "", "DigestFunctionPaused", "default", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"DigestFunction", "Weekday", TypeScheduleV2, "cron(0 8 ? * MON-FRI *)", "Europe/London", true, "", "DigestFunctionWeekday", "default", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("Load returned %d schedules, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		s := got[i]
		var start, end string
		if !s.Start.IsZero() {
			start = s.Start.Format(time.RFC3339)
		}
		if !s.End.IsZero() {
			end = s.End.Format(time.RFC3339)
		}
		r := row{s.Function, s.Event, s.Type, s.Expression.String(), s.Location.String(), s.Enabled, string(s.Input), s.Name, s.Group, start, end}
		if r != w {
			t.Errorf("schedule %d:\n got %+v\nwant %+v", i, r, w)
		}
	}

	// The London weekday digest fires at 08:00 local: 08:00 GMT in winter, 07:00 UTC in summer.
	weekday := got[5]
	for _, c := range []struct{ after, want string }{
		{"2026-03-06T09:00:00Z", "2026-03-09T08:00:00Z"},
		{"2026-06-01T09:00:00Z", "2026-06-02T07:00:00Z"},
	} {
		next, ok := weekday.Next(mustTime(t, c.after))
		if !ok || !next.Equal(mustTime(t, c.want)) {
			t.Errorf("weekday digest after %s: got %s, want %s", c.after, next.UTC().Format(time.RFC3339), c.want)
		}
	}
}

// Herald's own template must always load: a schedule added to it that this package cannot
// read fails here, not when someone runs Herald locally.
func TestLoadHeraldTemplate(t *testing.T) {
	t.Parallel()
	tpl, err := samtemplate.LoadRoot()
	if err != nil {
		t.Fatal(err)
	}
	schedules, err := Load(tpl)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	for _, s := range schedules {
		t.Logf("%s: enabled=%v", s, s.Enabled)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		typ    string
		props  string // the event's Properties, indented by 12 spaces
		params string // extra Parameters entries, indented by 2 spaces
		want   []string
	}{
		{name: "invalid cron", typ: "Schedule", props: "Schedule: cron(0 10 * * *)",
			want: []string{"function Fn event Tick (Schedule)", "Schedule: cron(0 10 * * *): 5 fields"}},
		{name: "invalid rate", typ: "ScheduleV2", props: "ScheduleExpression: rate(1 minutes)",
			want: []string{"function Fn event Tick (ScheduleV2)", `singular unit "minute"`}},
		{name: "both day fields", typ: "ScheduleV2", props: "ScheduleExpression: cron(0 10 1 * MON *)",
			want: []string{"function Fn event Tick", "one of them must be ?"}},
		{name: "unknown time zone", typ: "ScheduleV2", props: "ScheduleExpression: rate(5 minutes)\n            ScheduleExpressionTimezone: Europe/Londres",
			want: []string{"function Fn event Tick", `ScheduleExpressionTimezone "Europe/Londres" is not an IANA time zone`}},
		{name: "Local is not an IANA zone", typ: "ScheduleV2", props: "ScheduleExpression: rate(5 minutes)\n            ScheduleExpressionTimezone: Local",
			want: []string{`"Local" is not an IANA time zone`}},
		{name: "a time zone on a rule", typ: "Schedule", props: "Schedule: rate(5 minutes)\n            ScheduleExpressionTimezone: Europe/London",
			want: []string{"always UTC; use ScheduleV2"}},
		{name: "at() on a rule", typ: "Schedule", props: "Schedule: at(2026-11-20T13:00:00)",
			want: []string{"at() is only for ScheduleV2"}},
		{name: "at() in a DST gap", typ: "ScheduleV2", props: "ScheduleExpression: at(2026-03-29T01:30:00)\n            ScheduleExpressionTimezone: Europe/London",
			want: []string{"2026-03-29T01:30:00 does not exist in Europe/London"}},
		{name: "missing expression", typ: "ScheduleV2", props: "State: ENABLED",
			want: []string{"no ScheduleExpression property"}},
		{name: "Enabled and State", typ: "Schedule", props: "Schedule: rate(5 minutes)\n            Enabled: true\n            State: ENABLED",
			want: []string{"both Enabled and State"}},
		{name: "bad Enabled", typ: "Schedule", props: "Schedule: rate(5 minutes)\n            Enabled: sometimes",
			want: []string{`Enabled: want true or false, got "sometimes"`}},
		{name: "bad State", typ: "ScheduleV2", props: "ScheduleExpression: rate(5 minutes)\n            State: PAUSED",
			want: []string{`State: want ENABLED or DISABLED, got "PAUSED"`}},
		{name: "Input not JSON", typ: "Schedule", props: "Schedule: rate(5 minutes)\n            Input: not json",
			want: []string{"Input is not valid JSON"}},
		{name: "Ref to an unknown parameter", typ: "ScheduleV2", props: "ScheduleExpression: !Ref Nope",
			want: []string{"!Ref Nope is not a template parameter"}},
		{name: "Ref to a parameter without Default", typ: "ScheduleV2", props: "ScheduleExpression: !Ref NoDefault",
			params: "  NoDefault:\n    Type: String\n", want: []string{"!Ref NoDefault: the parameter has no Default"}},
		{name: "other intrinsics", typ: "ScheduleV2", props: "ScheduleExpression: !Sub 'rate(${N} minutes)'",
			want: []string{"Fn::Sub does not resolve locally"}},
		{name: "bad StartDate", typ: "ScheduleV2", props: "ScheduleExpression: rate(5 minutes)\n            StartDate: tomorrow",
			want: []string{"StartDate: want an ISO 8601 UTC time"}},
		{name: "EndDate before StartDate", typ: "ScheduleV2",
			props: "ScheduleExpression: rate(5 minutes)\n            StartDate: '2026-02-01T00:00:00Z'\n            EndDate: '2026-01-01T00:00:00Z'",
			want:  []string{"EndDate 2026-01-01T00:00:00Z is not after StartDate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := "Parameters:\n  Unused:\n    Type: String\n" + tc.params + `Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Tick:
          Type: ` + tc.typ + `
          Properties:
            ` + tc.props + "\n"
			tpl, err := samtemplate.Parse([]byte(doc))
			if err != nil {
				t.Fatalf("parse test template: %v\n%s", err, doc)
			}
			_, err = Load(tpl)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", doc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Every broken schedule is reported at once, each with its function and event.
func TestLoadReportsEveryError(t *testing.T) {
	t.Parallel()
	tpl, err := samtemplate.Parse([]byte(`
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        One:
          Type: Schedule
          Properties:
            Schedule: rate(0 minutes)
  B:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Two:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 10 * * ? *)
            ScheduleExpressionTimezone: Mars/Olympus_Mons
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(tpl)
	if err == nil {
		t.Fatal("Load accepted two broken schedules")
	}
	for _, w := range []string{"function A event One (Schedule)", "function B event Two (ScheduleV2)", "Mars/Olympus_Mons"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
