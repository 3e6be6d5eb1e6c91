package samtemplate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableType is the CloudFormation type of a DynamoDB table.
const TableType = "AWS::DynamoDB::Table"

// tableActiveTimeout bounds the wait for a created table to become ACTIVE (DynamoDB Local
// creates tables ACTIVE at once; real DynamoDB takes seconds).
const tableActiveTimeout = 2 * time.Minute

// CreateTables creates in client every AWS::DynamoDB::Table of t with exactly the template's
// AttributeDefinitions, KeySchema, GlobalSecondaryIndexes, LocalSecondaryIndexes (projections
// included), BillingMode (and ProvisionedThroughput) and StreamSpecification, waits until each
// is ACTIVE and applies its TimeToLiveSpecification. The physical name of each table is
// nameFor(logicalID); the template's TableName, if any, is ignored. Tables are created in
// logical-id order. It returns logical id → physical name for the tables created so far, also
// on error.
func CreateTables(ctx context.Context, client *dynamodb.Client, t *Template, nameFor func(logicalID string) string) (map[string]string, error) {
	tables := t.ResourcesOfType(TableType)
	ids := make([]string, 0, len(tables))
	for id := range tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	created := make(map[string]string, len(ids))
	for _, id := range ids {
		name := nameFor(id)
		in, ttl, err := TableInput(tables[id], name)
		if err != nil {
			return created, err
		}
		if _, err := client.CreateTable(ctx, in); err != nil {
			return created, fmt.Errorf("create table %s (%s): %w", id, name, err)
		}
		created[id] = name
		waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = 2 * time.Second
		})
		if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, tableActiveTimeout); err != nil {
			return created, fmt.Errorf("wait for table %s (%s) to be active: %w", id, name, err)
		}
		if ttl != nil {
			if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName: aws.String(name), TimeToLiveSpecification: ttl,
			}); err != nil {
				return created, fmt.Errorf("enable TTL on table %s (%s): %w", id, name, err)
			}
		}
	}
	return created, nil
}

// TableInput translates one AWS::DynamoDB::Table resource into the CreateTable request that
// makes the same table under name, and its TTL specification (nil when the template sets
// none). Any property CreateTable needs that is not a literal (an intrinsic) is an error.
func TableInput(r Resource, name string) (*dynamodb.CreateTableInput, *types.TimeToLiveSpecification, error) {
	wrap := func(err error) error { return fmt.Errorf("table %s in the template: %w", r.LogicalID, err) }
	p := r.Properties
	in := &dynamodb.CreateTableInput{TableName: aws.String(name)}

	defs, err := list(p, "AttributeDefinitions")
	if err != nil {
		return nil, nil, wrap(err)
	}
	for i, d := range defs {
		n, err1 := str(d, "AttributeName")
		typ, err2 := str(d, "AttributeType")
		if err := errors.Join(err1, err2); err != nil {
			return nil, nil, wrap(fmt.Errorf("AttributeDefinitions[%d]: %w", i, err))
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(n), AttributeType: types.ScalarAttributeType(typ),
		})
	}
	if in.KeySchema, err = keySchema(p["KeySchema"]); err != nil {
		return nil, nil, wrap(fmt.Errorf("KeySchema: %w", err))
	}

	billing := "PROVISIONED"
	if v, ok := p["BillingMode"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, nil, wrap(fmt.Errorf("BillingMode is %v, want a literal string", v))
		}
		billing = s
	}
	in.BillingMode = types.BillingMode(billing)
	if billing == string(types.BillingModeProvisioned) {
		if in.ProvisionedThroughput, err = throughput(p["ProvisionedThroughput"]); err != nil {
			return nil, nil, wrap(fmt.Errorf("ProvisionedThroughput: %w", err))
		}
	}

	if _, ok := p["GlobalSecondaryIndexes"]; ok {
		gsis, err := list(p, "GlobalSecondaryIndexes")
		if err != nil {
			return nil, nil, wrap(err)
		}
		for i, g := range gsis {
			idx, err := index(g)
			if err != nil {
				return nil, nil, wrap(fmt.Errorf("GlobalSecondaryIndexes[%d]: %w", i, err))
			}
			gsi := types.GlobalSecondaryIndex{IndexName: idx.name, KeySchema: idx.keys, Projection: idx.projection}
			if billing == string(types.BillingModeProvisioned) {
				if gsi.ProvisionedThroughput, err = throughput(g.(map[string]any)["ProvisionedThroughput"]); err != nil {
					return nil, nil, wrap(fmt.Errorf("GlobalSecondaryIndexes[%d].ProvisionedThroughput: %w", i, err))
				}
			}
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
		}
	}
	if _, ok := p["LocalSecondaryIndexes"]; ok {
		lsis, err := list(p, "LocalSecondaryIndexes")
		if err != nil {
			return nil, nil, wrap(err)
		}
		for i, l := range lsis {
			idx, err := index(l)
			if err != nil {
				return nil, nil, wrap(fmt.Errorf("LocalSecondaryIndexes[%d]: %w", i, err))
			}
			in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
				IndexName: idx.name, KeySchema: idx.keys, Projection: idx.projection,
			})
		}
	}

	if v, ok := p["StreamSpecification"]; ok {
		viewType, err := str(v, "StreamViewType")
		if err != nil {
			return nil, nil, wrap(fmt.Errorf("StreamSpecification: %w", err))
		}
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewType(viewType),
		}
	}

	var ttl *types.TimeToLiveSpecification
	if v, ok := p["TimeToLiveSpecification"]; ok {
		attr, err := str(v, "AttributeName")
		if err != nil {
			return nil, nil, wrap(fmt.Errorf("TimeToLiveSpecification: %w", err))
		}
		enabled, _ := v.(map[string]any)["Enabled"].(bool)
		if enabled {
			ttl = &types.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)}
		}
	}
	return in, ttl, nil
}

type indexSpec struct {
	name       *string
	keys       []types.KeySchemaElement
	projection *types.Projection
}

func index(v any) (indexSpec, error) {
	var idx indexSpec
	n, err := str(v, "IndexName")
	if err != nil {
		return idx, err
	}
	idx.name = aws.String(n)
	m := v.(map[string]any)
	if idx.keys, err = keySchema(m["KeySchema"]); err != nil {
		return idx, fmt.Errorf("index %s KeySchema: %w", n, err)
	}
	pt, err := str(m["Projection"], "ProjectionType")
	if err != nil {
		return idx, fmt.Errorf("index %s Projection: %w", n, err)
	}
	idx.projection = &types.Projection{ProjectionType: types.ProjectionType(pt)}
	if raw, ok := m["Projection"].(map[string]any)["NonKeyAttributes"]; ok {
		attrs, isList := raw.([]any)
		if !isList {
			return idx, fmt.Errorf("index %s Projection.NonKeyAttributes is %v, want a literal list", n, raw)
		}
		for _, a := range attrs {
			s, isStr := a.(string)
			if !isStr {
				return idx, fmt.Errorf("index %s Projection.NonKeyAttributes holds %v, want literal strings", n, a)
			}
			idx.projection.NonKeyAttributes = append(idx.projection.NonKeyAttributes, s)
		}
	}
	return idx, nil
}

func keySchema(v any) ([]types.KeySchemaElement, error) {
	items, ok := v.([]any)
	if !ok || len(items) == 0 {
		return nil, fmt.Errorf("is %v, want a non-empty literal list", v)
	}
	out := make([]types.KeySchemaElement, 0, len(items))
	for i, it := range items {
		n, err1 := str(it, "AttributeName")
		kt, err2 := str(it, "KeyType")
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(n), KeyType: types.KeyType(kt)})
	}
	return out, nil
}

func throughput(v any) (*types.ProvisionedThroughput, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("missing for a PROVISIONED table")
	}
	r, ok1 := Int(m["ReadCapacityUnits"])
	w, ok2 := Int(m["WriteCapacityUnits"])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%v needs literal ReadCapacityUnits and WriteCapacityUnits", m)
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(int64(r)), WriteCapacityUnits: aws.Int64(int64(w))}, nil
}

func list(m map[string]any, key string) ([]any, error) {
	v, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("%s is missing", key)
	}
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("%s is %v, want a non-empty literal list", key, v)
	}
	return l, nil
}

func str(v any, key string) (string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("is %v, want a mapping with %s", v, key)
	}
	s, ok := m[key].(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%s is %v, want a literal string", key, m[key])
	}
	return s, nil
}
