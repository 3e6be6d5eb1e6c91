package localscheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	// ScheduleExpressionTimezone must resolve the same on every machine, tzdata package or not:
	// Go's embedded zone database (~450 KB) is the fallback when the system has none.
	_ "time/tzdata"

	"github.com/heraldhq/herald/infra/samtemplate"
)

// EventType is the SAM event type a schedule comes from.
type EventType string

const (
	// TypeSchedule is a SAM Schedule event: an EventBridge rule, always UTC.
	TypeSchedule EventType = "Schedule"
	// TypeScheduleV2 is a SAM ScheduleV2 event: an EventBridge Scheduler schedule, in its
	// ScheduleExpressionTimezone.
	TypeScheduleV2 EventType = "ScheduleV2"
)

// Schedule is one Schedule or ScheduleV2 event of an AWS::Serverless::Function.
type Schedule struct {
	// Function is the function's logical id, Event the event's name under Events.
	Function, Event string
	Type            EventType
	Expression      Expression
	// Location is where the expression is evaluated: UTC for Schedule, the
	// ScheduleExpressionTimezone (default UTC) for ScheduleV2.
	Location *time.Location
	// Enabled is false for Enabled: false or State: DISABLED; such schedules are loaded so that
	// the runner can say they exist, and never fire.
	Enabled bool
	// Input is the Input property's JSON, delivered as is; nil when absent (the function then
	// gets the service's own envelope, see Scheduler).
	Input []byte
	// Name is the rule's or schedule's name: the Name property, else <Function><Event>, the
	// logical id SAM gives the generated resource (on AWS a rule without a Name gets a
	// CloudFormation-generated physical name instead).
	Name string
	// Group is the ScheduleV2 GroupName, "default" when absent; empty for Schedule.
	Group string
	// Start and End are the ScheduleV2 StartDate and EndDate (zero when absent): recurring
	// schedules fire only between them. One-time at() schedules ignore both, as on AWS.
	Start, End time.Time
}

// Next returns the schedule's next fire time strictly after `after` (see Expression.Next).
func (s Schedule) Next(after time.Time) (time.Time, bool) {
	return s.Expression.Next(after, s.Location)
}

// Key names the schedule for its fire log: its function, event and expression, so that a
// changed expression starts afresh.
func (s Schedule) Key() string {
	return s.Function + "/" + s.Event + "/" + s.Expression.String() + "/" + s.Location.String()
}

func (s Schedule) String() string {
	return fmt.Sprintf("%s.%s: %s (%s)", s.Function, s.Event, s.Expression, s.Location)
}

// Load reads every Schedule and ScheduleV2 event of the template's AWS::Serverless::Function
// resources, sorted by function then event. !Ref to a parameter resolves to its Default; any
// other intrinsic in these properties is an error, as are invalid expressions, time zones,
// states and inputs: each names the function and the event, and all of them are reported at
// once. Function Conditions are not evaluated.
func Load(t *samtemplate.Template) ([]Schedule, error) {
	params := t.Parameters()
	var out []Schedule
	var errs []error
	ids := make([]string, 0)
	for id := range t.ResourcesOfType("AWS::Serverless::Function") {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		props, err := t.FunctionProperties(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		evs, _ := props["Events"].(map[string]any)
		names := make([]string, 0, len(evs))
		for name := range evs {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			ev, _ := evs[name].(map[string]any)
			typ, _ := ev["Type"].(string)
			if typ != string(TypeSchedule) && typ != string(TypeScheduleV2) {
				continue
			}
			p, _ := ev["Properties"].(map[string]any)
			r := reader{params: params, props: p}
			s := Schedule{Function: id, Event: name, Type: EventType(typ), Name: id + name}
			if typ == string(TypeSchedule) {
				err = r.rule(&s)
			} else {
				err = r.scheduleV2(&s)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("function %s event %s (%s): %w", id, name, typ, err))
				continue
			}
			out = append(out, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// reader reads one event's properties, resolving !Ref to parameter defaults.
type reader struct {
	params map[string]samtemplate.Parameter
	props  map[string]any
}

// str returns a property as a string; ok is false when it is absent.
func (r reader) str(name string) (string, bool, error) {
	v, present := r.props[name]
	if !present || v == nil {
		return "", false, nil
	}
	if target, intrinsic, isRef := samtemplate.RefTarget(v); isRef {
		if intrinsic != "Ref" {
			return "", false, fmt.Errorf("%s: !GetAtt does not resolve locally; use a literal or !Ref to a parameter", name)
		}
		p, isParam := r.params[target]
		if !isParam {
			return "", false, fmt.Errorf("%s: !Ref %s is not a template parameter; only parameters (with a Default) resolve locally", name, target)
		}
		if !p.HasDefault {
			return "", false, fmt.Errorf("%s: !Ref %s: the parameter has no Default", name, target)
		}
		v = p.Default
	}
	if m, isMap := v.(map[string]any); isMap {
		for k := range m {
			return "", false, fmt.Errorf("%s: %s does not resolve locally; use a literal or !Ref to a parameter", name, k)
		}
	}
	s, ok := samtemplate.String(v)
	if !ok {
		return "", false, fmt.Errorf("%s: want a string, got %T", name, v)
	}
	return s, true, nil
}

func (r reader) expression(name string) (Expression, error) {
	text, ok, err := r.str(name)
	if err != nil {
		return Expression{}, err
	}
	if !ok {
		return Expression{}, fmt.Errorf("no %s property", name)
	}
	e, err := Parse(text)
	if err != nil {
		return Expression{}, fmt.Errorf("%s: %w", name, err)
	}
	return e, nil
}

// input reads Input: EventBridge and Scheduler's Lambda target both require well-formed JSON.
func (r reader) input(s *Schedule) error {
	in, ok, err := r.str("Input")
	if err != nil || !ok {
		return err
	}
	if !json.Valid([]byte(in)) {
		return fmt.Errorf("Input is not valid JSON: %q", in)
	}
	s.Input = []byte(in)
	return nil
}

func (r reader) name(s *Schedule) error {
	n, ok, err := r.str("Name")
	if ok {
		s.Name = n
	}
	return err
}

// rule reads a Schedule event (SAM's AWS::Events::Rule): Schedule, Enabled or State, Input,
// Name.
func (r reader) rule(s *Schedule) error {
	s.Location = time.UTC
	if _, has := r.props["ScheduleExpressionTimezone"]; has {
		return errors.New("Schedule events (EventBridge rules) are always UTC; use ScheduleV2 for ScheduleExpressionTimezone")
	}
	e, err := r.expression("Schedule")
	if err != nil {
		return err
	}
	if e.Kind() == At {
		return errors.New("Schedule: at() is only for ScheduleV2; an EventBridge rule takes cron() or rate()")
	}
	s.Expression = e
	enabled, hasEnabled, err := r.str("Enabled")
	if err != nil {
		return err
	}
	state, hasState, err := r.str("State")
	if err != nil {
		return err
	}
	s.Enabled = true
	switch {
	case hasEnabled && hasState:
		return errors.New("both Enabled and State are set; SAM takes one or the other")
	case hasEnabled:
		b, err := strconv.ParseBool(enabled)
		if err != nil {
			return fmt.Errorf("Enabled: want true or false, got %q", enabled)
		}
		s.Enabled = b
	case hasState:
		switch state {
		case "ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
		case "DISABLED":
			s.Enabled = false
		default:
			return fmt.Errorf("State: want ENABLED or DISABLED, got %q", state)
		}
	}
	if err := r.input(s); err != nil {
		return err
	}
	return r.name(s)
}

// scheduleV2 reads a ScheduleV2 event (SAM's AWS::Scheduler::Schedule): ScheduleExpression,
// ScheduleExpressionTimezone, State, Input, Name, GroupName, StartDate, EndDate.
func (r reader) scheduleV2(s *Schedule) error {
	e, err := r.expression("ScheduleExpression")
	if err != nil {
		return err
	}
	s.Expression = e
	tz, hasTZ, err := r.str("ScheduleExpressionTimezone")
	if err != nil {
		return err
	}
	s.Location = time.UTC
	if hasTZ {
		// LoadLocation also takes "" and "Local", which are not IANA names and would make the
		// schedule depend on the machine.
		loc, lerr := time.LoadLocation(tz)
		if tz == "" || tz == "Local" || lerr != nil {
			return fmt.Errorf("ScheduleExpressionTimezone %q is not an IANA time zone name (such as Europe/London)", tz)
		}
		s.Location = loc
	}
	if e.Kind() == At {
		if _, ok := e.at.resolve(s.Location); !ok {
			return fmt.Errorf("ScheduleExpression %s: %s does not exist in %s (a daylight-saving gap)", e, e.at, s.Location)
		}
	}
	state, hasState, err := r.str("State")
	if err != nil {
		return err
	}
	s.Enabled = true
	if hasState {
		switch state {
		case "ENABLED":
		case "DISABLED":
			s.Enabled = false
		default:
			return fmt.Errorf("State: want ENABLED or DISABLED, got %q", state)
		}
	}
	if err := r.input(s); err != nil {
		return err
	}
	if err := r.name(s); err != nil {
		return err
	}
	s.Group = "default"
	if g, ok, err := r.str("GroupName"); err != nil {
		return err
	} else if ok {
		s.Group = g
	}
	for _, d := range []struct {
		prop string
		dst  *time.Time
	}{{"StartDate", &s.Start}, {"EndDate", &s.End}} {
		text, ok, err := r.str(d.prop)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, text)
		if err != nil {
			return fmt.Errorf("%s: want an ISO 8601 UTC time such as 2026-01-01T00:00:00Z: %w", d.prop, err)
		}
		*d.dst = t
	}
	if !s.Start.IsZero() && !s.End.IsZero() && !s.End.After(s.Start) {
		return fmt.Errorf("EndDate %s is not after StartDate %s", s.End.Format(time.RFC3339), s.Start.Format(time.RFC3339))
	}
	return nil
}
