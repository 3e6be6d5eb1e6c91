package localbus

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/heraldhq/herald/infra/eventpattern"
	"github.com/heraldhq/herald/infra/samtemplate"
)

// DefaultBus is the name of the account's default event bus, where entries without an
// EventBusName and rules without one go.
const DefaultBus = "default"

// Rule routes the events on one bus that match a pattern to one function.
type Rule struct {
	// Name is the rule's name on AWS: its RuleName/Name property, else the logical ID SAM gives
	// the rule it generates (<function><event>) or the AWS::Events::Rule's logical ID.
	Name string
	// Function is the logical ID of the target function.
	Function string
	// Bus is the event bus's name (an ARN in the template is reduced to the name).
	Bus string
	// Pattern is the compiled event pattern.
	Pattern *eventpattern.Pattern
}

// LoadRules reads the event rules of a template: every EventBridgeRule (or its older name,
// CloudWatchEvent) event of an AWS::Serverless::Function, and every AWS::Events::Rule with an
// EventPattern, one Rule per Lambda target (`!GetAtt Function.Arn`; other targets are not
// functions this bus can invoke and are skipped). Disabled rules are skipped. Rules are sorted
// by name, then function.
//
// A rule the bus cannot honour faithfully is an error, never silently different routing: an
// invalid pattern, an EventBusName that does not resolve to a literal (a !Ref to a parameter
// resolves to its default), or an Input, InputPath or InputTransformer, which would change
// what the function receives.
func LoadRules(t *samtemplate.Template) ([]Rule, error) {
	if t == nil {
		return nil, errors.New("load event rules: no template")
	}
	var rules []Rule

	functions := t.ResourcesOfType("AWS::Serverless::Function")
	for _, fn := range sortedKeys(functions) {
		props, err := t.FunctionProperties(fn)
		if err != nil {
			return nil, fmt.Errorf("load event rules: %w", err)
		}
		events, _ := props["Events"].(map[string]any)
		for _, ev := range sortedKeys(events) {
			evm, _ := events[ev].(map[string]any)
			typ, _ := evm["Type"].(string)
			if typ != "EventBridgeRule" && typ != "CloudWatchEvent" {
				continue
			}
			rule, enabled, err := serverlessRule(t, fn, ev, evm)
			if err != nil {
				return nil, fmt.Errorf("load event rules: function %s, event %s: %w", fn, ev, err)
			}
			if enabled {
				rules = append(rules, rule)
			}
		}
	}

	eventRules := t.ResourcesOfType("AWS::Events::Rule")
	resources := t.Resources()
	for _, id := range sortedKeys(eventRules) {
		rs, err := eventsRule(t, resources, eventRules[id])
		if err != nil {
			return nil, fmt.Errorf("load event rules: rule %s: %w", id, err)
		}
		rules = append(rules, rs...)
	}

	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].Name != rules[j].Name {
			return rules[i].Name < rules[j].Name
		}
		return rules[i].Function < rules[j].Function
	})
	return rules, nil
}

// serverlessRule reads a function's EventBridgeRule event.
func serverlessRule(t *samtemplate.Template, fn, ev string, evm map[string]any) (Rule, bool, error) {
	props, _ := evm["Properties"].(map[string]any)
	if props == nil {
		return Rule{}, false, errors.New("no Properties")
	}
	if err := noInputRewrite(props); err != nil {
		return Rule{}, false, err
	}
	enabled, err := ruleEnabled(props)
	if err != nil {
		return Rule{}, false, err
	}
	raw, ok := props["Pattern"]
	if !ok {
		return Rule{}, false, errors.New("no Pattern")
	}
	pattern, err := compilePattern(raw)
	if err != nil {
		return Rule{}, false, err
	}
	bus, err := ResolveBus(t, props["EventBusName"])
	if err != nil {
		return Rule{}, false, err
	}
	name := fn + ev
	if v, ok := props["RuleName"]; ok {
		s, isStr := samtemplate.String(v)
		if !isStr {
			return Rule{}, false, fmt.Errorf("RuleName %v is not a literal string", v)
		}
		name = s
	}
	return Rule{Name: name, Function: fn, Bus: bus, Pattern: pattern}, enabled, nil
}

// eventsRule reads an AWS::Events::Rule, one Rule per Lambda function target.
func eventsRule(t *samtemplate.Template, resources map[string]samtemplate.Resource, r samtemplate.Resource) ([]Rule, error) {
	raw, ok := r.Properties["EventPattern"]
	if !ok {
		return nil, nil // a schedule: nothing to route
	}
	enabled, err := ruleEnabled(r.Properties)
	if err != nil || !enabled {
		return nil, err
	}
	targets, _ := r.Properties["Targets"].([]any)
	var functions []string
	for i, tv := range targets {
		tm, _ := tv.(map[string]any)
		target, intrinsic, ok := samtemplate.RefTarget(tm["Arn"])
		if !ok || intrinsic != "Fn::GetAtt" || !isFunction(resources[target].Type) {
			continue
		}
		if attr, _ := getAttAttribute(tm["Arn"]); attr != "Arn" {
			continue
		}
		if err := noInputRewrite(tm); err != nil {
			return nil, fmt.Errorf("target %d (%s): %w", i, target, err)
		}
		functions = append(functions, target)
	}
	if len(functions) == 0 {
		return nil, nil
	}
	pattern, err := compilePattern(raw)
	if err != nil {
		return nil, err
	}
	bus, err := ResolveBus(t, r.Properties["EventBusName"])
	if err != nil {
		return nil, err
	}
	name := r.LogicalID
	if v, ok := r.Properties["Name"]; ok {
		s, isStr := samtemplate.String(v)
		if !isStr {
			return nil, fmt.Errorf("Name %v is not a literal string", v)
		}
		name = s
	}
	rules := make([]Rule, 0, len(functions))
	for _, fn := range functions {
		rules = append(rules, Rule{Name: name, Function: fn, Bus: bus, Pattern: pattern})
	}
	return rules, nil
}

func isFunction(typ string) bool {
	return typ == "AWS::Serverless::Function" || typ == "AWS::Lambda::Function"
}

func getAttAttribute(v any) (string, bool) {
	m, _ := v.(map[string]any)
	switch g := m["Fn::GetAtt"].(type) {
	case []any:
		if len(g) == 2 {
			s, ok := g[1].(string)
			return s, ok
		}
	case string:
		_, attr, ok := strings.Cut(g, ".")
		return attr, ok
	}
	return "", false
}

// compilePattern compiles a pattern written as YAML (decoded to maps and lists) or as a JSON
// string, as CloudFormation accepts both.
func compilePattern(raw any) (*eventpattern.Pattern, error) {
	var src []byte
	if s, ok := raw.(string); ok {
		src = []byte(s)
	} else {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, fmt.Errorf("pattern is not JSON-representable: %w", err)
		}
		src = b
	}
	p, err := eventpattern.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("invalid pattern: %w", err)
	}
	return p, nil
}

// ResolveBus turns an EventBusName property into a bus name: absent is the default bus, a
// literal is taken as written (an ARN reduced to its name), a !Ref to a parameter is the
// parameter's default, and a !Ref or !GetAtt (Name or Arn) to an AWS::Events::EventBus is that
// bus's Name (a literal, or a !Ref to a parameter with a default).
func ResolveBus(t *samtemplate.Template, v any) (string, error) {
	if v == nil {
		return DefaultBus, nil
	}
	if s, ok := v.(string); ok {
		return checkedBus(s)
	}
	target, intrinsic, ok := samtemplate.RefTarget(v)
	if !ok {
		return "", fmt.Errorf("EventBusName %v: only a literal, a !Ref or a !GetAtt is supported", v)
	}
	if intrinsic == "Ref" {
		if p, isParam := t.Parameters()[target]; isParam {
			if !p.HasDefault {
				return "", fmt.Errorf("EventBusName is !Ref %s, a parameter without a default", target)
			}
			s, isStr := samtemplate.String(p.Default)
			if !isStr {
				return "", fmt.Errorf("EventBusName is !Ref %s, whose default %v is not a string", target, p.Default)
			}
			return checkedBus(s)
		}
	} else if attr, _ := getAttAttribute(v); attr != "Name" && attr != "Arn" {
		return "", fmt.Errorf("EventBusName is !GetAtt %s.%s: only Name and Arn name a bus", target, attr)
	}
	r, isRes := t.Resources()[target]
	if !isRes || r.Type != "AWS::Events::EventBus" {
		return "", fmt.Errorf("EventBusName refers to %s, neither a parameter nor an AWS::Events::EventBus", target)
	}
	name := r.Properties["Name"]
	if s, isStr := samtemplate.String(name); isStr {
		return checkedBus(s)
	}
	if p, _, isRef := samtemplate.RefTarget(name); isRef {
		if _, isParam := t.Parameters()[p]; isParam {
			return ResolveBus(t, name)
		}
	}
	return "", fmt.Errorf("EventBusName refers to bus %s, whose Name is neither a literal string nor a !Ref to a parameter", target)
}

func checkedBus(s string) (string, error) {
	if !eventBusNameOrARN.MatchString(s) {
		return "", fmt.Errorf("EventBusName %q is neither a bus name nor an event bus ARN", s)
	}
	return busName(s), nil
}

// busName reduces an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>) to its
// name, so that a producer naming the default bus by ARN reaches the rules on "default". The
// account and region in the ARN are not compared: one local bus stands for one account.
func busName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if _, name, ok := strings.Cut(s, ":event-bus/"); ok {
			return name
		}
	}
	return s
}

// ruleEnabled reads State (ENABLED, DISABLED, or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS)
// and SAM's older Enabled flag.
func ruleEnabled(props map[string]any) (bool, error) {
	if v, ok := props["State"]; ok {
		s, _ := v.(string)
		switch s {
		case "ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
		case "DISABLED":
			return false, nil
		default:
			return false, fmt.Errorf("State %v is not ENABLED or DISABLED", v)
		}
	}
	if v, ok := props["Enabled"]; ok {
		enabled, isBool := v.(bool)
		if !isBool {
			return false, fmt.Errorf("Enabled %v is not a literal boolean", v)
		}
		return enabled, nil
	}
	return true, nil
}

// noInputRewrite refuses the target options that replace the event a function receives.
func noInputRewrite(props map[string]any) error {
	for _, k := range []string{"Input", "InputPath", "InputTransformer"} {
		if _, ok := props[k]; ok {
			return fmt.Errorf("%s is not supported by the local bus: the function would receive a different event", k)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
