package localbus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/infra/eventpattern"
	"github.com/heraldhq/herald/infra/localbus"
	"github.com/heraldhq/herald/infra/samtemplate"
)

// TestLoadRulesFromTemplate: template.yaml has one rule, the router's, on the default bus (the
// EventBusName parameter's default), matching the stage-transition envelope.
func TestLoadRulesFromTemplate(t *testing.T) {
	t.Parallel()
	rules := templateRules(t)
	if len(rules) != 1 {
		t.Fatalf("got %d rules, want 1: %+v", len(rules), rules)
	}
	r := rules[0]
	// Herald's own bus (the EventBus resource, named by the EventBusName parameter), never the
	// default bus, where any principal of the account may put events.
	if r.Name != "RouterFunctionStageTransition" || r.Function != "RouterFunction" || r.Bus != "herald" {
		t.Errorf("rule = %s -> %s on %s, want RouterFunctionStageTransition -> RouterFunction on herald", r.Name, r.Function, r.Bus)
	}
	if !r.Pattern.MatchDecoded(map[string]any{"source": stagetransition.Source, "detail-type": stagetransition.DetailType}) {
		t.Errorf("pattern %s does not match source %q, detail-type %q", r.Pattern, stagetransition.Source, stagetransition.DetailType)
	}
}

// ruleSummary is a Rule without its compiled pattern, plus the pattern's source.
type ruleSummary struct{ Name, Function, Bus, Pattern string }

func TestLoadRules(t *testing.T) {
	t.Parallel()
	const functions = `
Parameters:
  Bus:
    Type: String
    Default: herald-bus
  NoDefault:
    Type: String
Resources:
  HeraldBus:
    Type: AWS::Events::EventBus
    Properties:
      Name: herald-own
  Queue:
    Type: AWS::SQS::Queue
`
	tests := []struct {
		name      string
		resources string
		want      []ruleSummary
		wantErr   []string
		// wantPatternErr: the error wraps eventpattern.ErrInvalidPattern.
		wantPatternErr bool
	}{
		{
			name: "EventBridgeRule on a bus given by parameter, with globals merged",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        OnThing:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref Bus
            Pattern:
              source: [a]
        Poll:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
`,
			want: []ruleSummary{{"FnOnThing", "Fn", "herald-bus", `{"source":["a"]}`}},
		},
		{
			name: "bus by literal ARN, by !Ref and !GetAtt of an EventBus; RuleName; a disabled rule",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        ByArn:
          Type: EventBridgeRule
          Properties:
            EventBusName: arn:aws:events:eu-west-1:123456789012:event-bus/default
            Pattern: {source: [a]}
        ByRef:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref HeraldBus
            RuleName: herald-by-ref
            Pattern: {source: [b]}
        ByGetAtt:
          Type: CloudWatchEvent
          Properties:
            EventBusName: !GetAtt HeraldBus.Arn
            Pattern: {source: [c]}
        Off:
          Type: EventBridgeRule
          Properties:
            State: DISABLED
            Pattern: {source: [d]}
`,
			want: []ruleSummary{
				{"FnByArn", "Fn", "default", `{"source":["a"]}`},
				{"FnByGetAtt", "Fn", "herald-own", `{"source":["c"]}`},
				{"herald-by-ref", "Fn", "herald-own", `{"source":["b"]}`},
			},
		},
		{
			name: "AWS::Events::Rule: one rule per Lambda target, other targets and schedules skipped",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
  Other:
    Type: AWS::Lambda::Function
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: '{"detail-type": ["x"]}'
      Targets:
        - Id: fn
          Arn: !GetAtt Fn.Arn
        - Id: queue
          Arn: !GetAtt Queue.Arn
        - Id: other
          Arn: !GetAtt Other.Arn
  Named:
    Type: AWS::Events::Rule
    Properties:
      Name: named-rule
      EventBusName: !Ref HeraldBus
      State: ENABLED
      EventPattern:
        source: [y]
      Targets:
        - Id: fn
          Arn: !GetAtt Fn.Arn
  ToQueue:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [z]}
      Targets:
        - Id: queue
          Arn: !GetAtt Queue.Arn
  Nightly:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: rate(1 day)
      Targets:
        - Id: fn
          Arn: !GetAtt Fn.Arn
`,
			want: []ruleSummary{
				{"Rule", "Fn", "default", `{"detail-type": ["x"]}`},
				{"Rule", "Other", "default", `{"detail-type": ["x"]}`},
				{"named-rule", "Fn", "herald-own", `{"source":["y"]}`},
			},
		},
		{
			name: "an invalid pattern names the function and the event",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Broken:
          Type: EventBridgeRule
          Properties:
            Pattern:
              detail: {count: [{numeric: [">", "5"]}]}
`,
			wantErr:        []string{"function Fn, event Broken", "invalid pattern", "numeric"},
			wantPatternErr: true,
		},
		{
			name: "an invalid AWS::Events::Rule pattern names the rule",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: '{"source": "not-a-list"}'
      Targets:
        - Id: fn
          Arn: !GetAtt Fn.Arn
`,
			wantErr:        []string{"rule Rule", "invalid pattern"},
			wantPatternErr: true,
		},
		{
			name: "a bus parameter without a default",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Ref NoDefault
            Pattern: {source: [a]}
`,
			wantErr: []string{"function Fn, event E", "NoDefault", "without a default"},
		},
		{
			name: "a bus name built with !Sub",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E:
          Type: EventBridgeRule
          Properties:
            EventBusName: !Sub "${AWS::StackName}-bus"
            Pattern: {source: [a]}
`,
			wantErr: []string{"function Fn, event E", "EventBusName"},
		},
		{
			name: "an InputTransformer would change the event the function gets",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [a]}
            InputTransformer:
              InputTemplate: '{"x": 1}'
`,
			wantErr: []string{"function Fn, event E", "InputTransformer is not supported"},
		},
		{
			name: "an Input on an AWS::Events::Rule target",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [a]}
      Targets:
        - Id: fn
          Arn: !GetAtt Fn.Arn
          Input: '{"x": 1}'
`,
			wantErr: []string{"rule Rule", "Input is not supported"},
		},
		{
			name: "an EventBridgeRule without a pattern",
			resources: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E:
          Type: EventBridgeRule
          Properties:
            EventBusName: default
`,
			wantErr: []string{"function Fn, event E", "no Pattern"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl, err := samtemplate.Parse([]byte(functions + tt.resources))
			if err != nil {
				t.Fatal(err)
			}
			rules, err := localbus.LoadRules(tpl)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want one mentioning %q; rules %+v", tt.wantErr, rules)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				if tt.wantPatternErr != errors.Is(err, eventpattern.ErrInvalidPattern) {
					t.Errorf("errors.Is(%v, eventpattern.ErrInvalidPattern) = %v, want %v", err, !tt.wantPatternErr, tt.wantPatternErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []ruleSummary
			for _, r := range rules {
				got = append(got, ruleSummary{r.Name, r.Function, r.Bus, r.Pattern.String()})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("rules:\n got %+v\nwant %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLoadRulesNilTemplate(t *testing.T) {
	t.Parallel()
	if _, err := localbus.LoadRules(nil); err == nil {
		t.Error("LoadRules(nil) succeeded")
	}
}
