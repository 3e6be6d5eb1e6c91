package samtemplate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestParseShortFormIntrinsics(t *testing.T) {
	t.Parallel()
	tpl, err := Parse([]byte(`
Conditions:
  HasTopic: !Not [!Equals [!Ref Topic, ""]]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      A: !Ref Other
      B: !GetAtt Other.Arn
      C: !GetAtt [Other, QueueName]
      D: !Sub "${Other.Arn}/index/x"
      E: !If [HasTopic, [!Ref Topic], !Ref "AWS::NoValue"]
      F: !Select [0, !Split [",", !Ref List]]
      G: !Join ["", [a, !Ref Other]]
      H: !Sub
        - "${X}-y"
        - X: !Ref Other
      I: "5s,5m"
      J: 360
      K: true
      L: !Sub '10'
`))
	if err != nil {
		t.Fatal(err)
	}
	props := tpl.Resources()["Q"].Properties
	want := map[string]any{
		"A": map[string]any{"Ref": "Other"},
		"B": map[string]any{"Fn::GetAtt": []any{"Other", "Arn"}},
		"C": map[string]any{"Fn::GetAtt": []any{"Other", "QueueName"}},
		"D": map[string]any{"Fn::Sub": "${Other.Arn}/index/x"},
		"E": map[string]any{"Fn::If": []any{"HasTopic", []any{map[string]any{"Ref": "Topic"}}, map[string]any{"Ref": "AWS::NoValue"}}},
		"F": map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::Split": []any{",", map[string]any{"Ref": "List"}}}}},
		"G": map[string]any{"Fn::Join": []any{"", []any{"a", map[string]any{"Ref": "Other"}}}},
		"H": map[string]any{"Fn::Sub": []any{"${X}-y", map[string]any{"X": map[string]any{"Ref": "Other"}}}},
		"I": "5s,5m",
		"J": 360,
		"K": true,
		"L": map[string]any{"Fn::Sub": "10"},
	}
	for k, w := range want {
		if got := props[k]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %#v, want %#v", k, got, w)
		}
	}
	cond := tpl.Conditions()["HasTopic"]
	wantCond := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Topic"}, ""}}}}
	if !reflect.DeepEqual(cond, wantCond) {
		t.Errorf("condition: got %#v, want %#v", cond, wantCond)
	}
	if target, fn, ok := RefTarget(props["B"]); !ok || target != "Other" || fn != "Fn::GetAtt" {
		t.Errorf("RefTarget(B) = %q, %q, %v", target, fn, ok)
	}
}

func TestParseRejectsDuplicateKeys(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("Resources:\n  A: {Type: x}\n  A: {Type: y}\n"))
	if err == nil || !strings.Contains(err.Error(), "duplicate key") {
		t.Fatalf("Parse with a duplicate key: err = %v, want a duplicate key error", err)
	}
}

func TestFunctionPropertiesMergesGlobalsLikeSAM(t *testing.T) {
	t.Parallel()
	tpl, err := Parse([]byte(`
Globals:
  Function:
    Runtime: provided.al2023
    Timeout: 3
    Layers: [g]
    Environment:
      Variables:
        A: global
        B: global
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 30
      Layers: [l]
      Environment:
        Variables:
          B: !Ref X
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.FunctionProperties("F")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Runtime": "provided.al2023",
		"Timeout": 30,
		"Layers":  []any{"g", "l"},
		"Environment": map[string]any{"Variables": map[string]any{
			"A": "global", "B": map[string]any{"Ref": "X"},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged properties:\n got %#v\nwant %#v", got, want)
	}
}

func TestTableInput(t *testing.T) {
	t.Parallel()
	tpl, err := Parse([]byte(`
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: g, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: by_g
          KeySchema: [{AttributeName: g, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [a, b]}
      TimeToLiveSpecification: {AttributeName: exp, Enabled: true}
  Bad:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: !Ref Mode
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
`))
	if err != nil {
		t.Fatal(err)
	}
	in, ttl, err := TableInput(tpl.Resources()["T"], "phys")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.TableName) != "phys" || in.BillingMode != types.BillingModePayPerRequest ||
		len(in.AttributeDefinitions) != 2 || in.AttributeDefinitions[1].AttributeType != types.ScalarAttributeTypeN ||
		len(in.KeySchema) != 1 || len(in.GlobalSecondaryIndexes) != 1 {
		t.Errorf("CreateTableInput = %+v", in)
	}
	gsi := in.GlobalSecondaryIndexes[0]
	if aws.ToString(gsi.IndexName) != "by_g" || gsi.Projection.ProjectionType != types.ProjectionTypeInclude ||
		!reflect.DeepEqual(gsi.Projection.NonKeyAttributes, []string{"a", "b"}) || gsi.ProvisionedThroughput != nil {
		t.Errorf("GSI = %+v, projection %+v", gsi, gsi.Projection)
	}
	if ttl == nil || aws.ToString(ttl.AttributeName) != "exp" || !aws.ToBool(ttl.Enabled) {
		t.Errorf("TTL = %+v, want exp enabled", ttl)
	}
	if _, _, err := TableInput(tpl.Resources()["Bad"], "x"); err == nil || !strings.Contains(err.Error(), "BillingMode") {
		t.Errorf("TableInput with an intrinsic BillingMode: err = %v, want a BillingMode error", err)
	}
}
