// Package cost meters what Herald's functions consume in the units AWS bills, so that a test
// can run the real handlers on the local stand-ins and price a million deliveries (or
// notification events, or digest deliveries). A Function is one Lambda function's meter: an
// SDK middleware on its clients reads DynamoDB's consumed capacity, sizes SQS and EventBridge
// payloads and counts the recipients of SES messages, its logger and metric writer count the
// bytes CloudWatch Logs would ingest, and Invoke times each invocation as Lambda bills it.
package cost

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
)

// Billing granularities, from each service's pricing page.
const (
	// sqsChunk: "each 64 KB chunk of a payload is billed as 1 request".
	sqsChunk = 64 << 10
	// eventBridgeChunk: "each 64 KB chunk of a payload is billed as 1 event".
	eventBridgeChunk = 64 << 10
	// eventBridgeTimeSize is what an entry's Time adds to its billed size (PutEvents entry
	// size calculation in the EventBridge user guide).
	eventBridgeTimeSize = 14
	// lambdaGranularity: duration is billed in 1 ms increments.
	lambdaGranularity = time.Millisecond
)

// Usage is what one function consumed, in billed units.
type Usage struct {
	Invocations int
	// Billed is the sum of invocation durations, each rounded up to lambdaGranularity.
	Billed time.Duration
	// ReadUnits and WriteUnits are DynamoDB request units as ConsumedCapacity reports them
	// (table and indexes); IndexUnits is the share of both spent on secondary indexes.
	ReadUnits, WriteUnits, IndexUnits float64
	// TableUnits are the units by table name, indexes included.
	TableUnits map[string]float64
	// EstimatedCalls are DynamoDB calls whose output had no ConsumedCapacity; their units are
	// estimated from item sizes (estimate.go) and included above.
	EstimatedCalls int
	// SizeRuleUnits are the table units (indexes aside) that the documented size rules give
	// for the calls that reported ConsumedCapacity: a check of DynamoDB Local's figures.
	SizeRuleUnits float64
	// EmptyReads are reads that found nothing, for which DynamoDB Local reports no units;
	// they are counted at DynamoDB's minimum (emptyRead) in the units above.
	EmptyReads int
	// RaisedUnits are write units added to transactions DynamoDB Local reported below the
	// size rules (recordDynamo); they are included above.
	RaisedUnits float64
	// UnknownCalls are DynamoDB operations this meter does not know: their units are missing.
	UnknownCalls []string
	// SQSRequests are billed SQS requests (64 KB chunks), SQSCalls the API calls behind them.
	SQSRequests, SQSCalls int
	// Events are billed EventBridge events (64 KB chunks of each PutEvents entry).
	Events int
	// SESEmails are the emails SES bills, counted per recipient of each message it accepted
	// (as SES counts its sending quota); Herald addresses each message to one recipient, so
	// they are also the messages. SESCalls are the SendEmail calls behind them.
	SESEmails, SESCalls int
	// LogBytes are application log lines, MetricBytes EMF metric lines: both are CloudWatch
	// Logs ingestion.
	LogBytes, MetricBytes int64
	// Calls counts API calls by "Service.Operation", for the detail of a report.
	Calls map[string]int
}

// Add returns the sum of two usages.
func (u Usage) Add(o Usage) Usage {
	s := Usage{
		Invocations: u.Invocations + o.Invocations, Billed: u.Billed + o.Billed,
		ReadUnits: u.ReadUnits + o.ReadUnits, WriteUnits: u.WriteUnits + o.WriteUnits, IndexUnits: u.IndexUnits + o.IndexUnits,
		EstimatedCalls: u.EstimatedCalls + o.EstimatedCalls, SizeRuleUnits: u.SizeRuleUnits + o.SizeRuleUnits, UnknownCalls: append(slices.Clone(u.UnknownCalls), o.UnknownCalls...),
		EmptyReads: u.EmptyReads + o.EmptyReads, RaisedUnits: u.RaisedUnits + o.RaisedUnits,
		SQSRequests: u.SQSRequests + o.SQSRequests, SQSCalls: u.SQSCalls + o.SQSCalls, Events: u.Events + o.Events,
		SESEmails: u.SESEmails + o.SESEmails, SESCalls: u.SESCalls + o.SESCalls,
		LogBytes: u.LogBytes + o.LogBytes, MetricBytes: u.MetricBytes + o.MetricBytes,
		TableUnits: maps.Clone(u.TableUnits), Calls: maps.Clone(u.Calls),
	}
	if s.TableUnits == nil {
		s.TableUnits = map[string]float64{}
	}
	if s.Calls == nil {
		s.Calls = map[string]int{}
	}
	for k, v := range o.TableUnits {
		s.TableUnits[k] += v
	}
	for k, v := range o.Calls {
		s.Calls[k] += v
	}
	return s
}

// Function meters one Lambda function.
type Function struct {
	Name string
	// MemoryMB is the function's MemorySize, which turns time into GB-seconds.
	MemoryMB int

	mu          sync.Mutex
	u           Usage
	logBytes    atomic.Int64
	metricBytes atomic.Int64
}

// NewFunction returns the meter of a function with memoryMB of memory.
func NewFunction(name string, memoryMB int) *Function {
	return &Function{Name: name, MemoryMB: memoryMB, u: Usage{TableUnits: map[string]float64{}, Calls: map[string]int{}}}
}

// Usage returns what the function consumed so far.
func (f *Function) Usage() Usage {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.u.Add(Usage{})
	u.LogBytes, u.MetricBytes = f.logBytes.Load(), f.metricBytes.Load()
	return u
}

// GBSeconds is the function's billed compute.
func (f *Function) GBSeconds() float64 {
	return f.Usage().Billed.Seconds() * float64(f.MemoryMB) / 1024
}

// Invoke runs one invocation of the handler and bills its duration, rounded up to 1 ms.
func (f *Function) Invoke(run func()) {
	start := time.Now()
	run()
	d := time.Since(start)
	billed := (d + lambdaGranularity - 1) / lambdaGranularity * lambdaGranularity
	f.mu.Lock()
	f.u.Invocations++
	f.u.Billed += billed
	f.mu.Unlock()
}

// Logger is the function's logger as lambdafn.Main builds it (JSON, tagged with the
// function's name) at level, writing to a counter of the bytes CloudWatch Logs would ingest.
func (f *Function) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(countingWriter{&f.logBytes}, &slog.HandlerOptions{Level: level})).With("function", f.Name)
}

// MetricsOut is where the function's EMF metric lines go (lambdafn.NewEMF(f.MetricsOut())):
// on Lambda, stdout, which CloudWatch Logs ingests.
func (f *Function) MetricsOut() io.Writer { return countingWriter{&f.metricBytes} }

type countingWriter struct{ n *atomic.Int64 }

func (w countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// APIOption is the SDK middleware that meters every call of a client it is added to
// (DynamoDB, SQS, EventBridge and SES v2 clients alike; other services pass through). It runs at
// Initialize, once per API call: SDK retries are not counted, which is exact when no fault is
// injected.
func (f *Function) APIOption() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("HeraldCostMeter",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				askForCapacity(in.Parameters)
				out, md, err := next.HandleInitialize(ctx, in)
				op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
				f.record(op, in.Parameters, out.Result, err)
				return out, md, err
			}), middleware.After)
	}
}

// askForCapacity sets ReturnConsumedCapacity to INDEXES on every DynamoDB input that has it:
// the table's and each index's units, so that an index's share can be seen.
func askForCapacity(params any) {
	const indexes = ddbtypes.ReturnConsumedCapacityIndexes
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.PutItemInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.UpdateItemInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.DeleteItemInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.QueryInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.ScanInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.BatchGetItemInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.BatchWriteItemInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.TransactWriteItemsInput:
		in.ReturnConsumedCapacity = indexes
	case *dynamodb.TransactGetItemsInput:
		in.ReturnConsumedCapacity = indexes
	}
}

func (f *Function) record(op string, params, result any, callErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.u.Calls[op]++
	switch {
	case strings.HasPrefix(op, "DynamoDB."):
		f.recordDynamo(op, params, result, callErr)
	case strings.HasPrefix(op, "SQS."):
		f.u.SQSCalls++
		f.u.SQSRequests += sqsRequests(params, result)
	case strings.HasPrefix(op, "EventBridge."):
		if in, ok := params.(*eventbridge.PutEventsInput); ok {
			for _, e := range in.Entries {
				f.u.Events += EventChunks(entrySize(e))
			}
		}
	case strings.HasPrefix(op, "SESv2."):
		// A refused call sends nothing and costs nothing; SDK retries are not counted here.
		if in, ok := params.(*sesv2.SendEmailInput); ok && callErr == nil {
			f.u.SESCalls++
			f.u.SESEmails += recipients(in)
		}
	}
}

func recipients(in *sesv2.SendEmailInput) int {
	if in.Destination == nil {
		return 0
	}
	d := in.Destination
	return len(d.ToAddresses) + len(d.CcAddresses) + len(d.BccAddresses)
}

// recordDynamo adds a call's consumed capacity. A failed call consumed what DynamoDB says it
// did: a refused condition still costs its write, and the SDK returns no output then, so it is
// estimated.
func (f *Function) recordDynamo(op string, params, result any, callErr error) {
	var caps []ddbtypes.ConsumedCapacity
	read := false
	switch out := result.(type) {
	case *dynamodb.GetItemOutput:
		caps, read = one(out.ConsumedCapacity), true
	case *dynamodb.QueryOutput:
		caps, read = one(out.ConsumedCapacity), true
	case *dynamodb.ScanOutput:
		caps, read = one(out.ConsumedCapacity), true
	case *dynamodb.BatchGetItemOutput:
		caps, read = out.ConsumedCapacity, true
	case *dynamodb.TransactGetItemsOutput:
		caps, read = out.ConsumedCapacity, true
	case *dynamodb.PutItemOutput:
		caps = one(out.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		caps = one(out.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		caps = one(out.ConsumedCapacity)
	case *dynamodb.BatchWriteItemOutput:
		caps = out.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		caps = out.ConsumedCapacity
	case nil:
		// The call failed (a condition check, a cancelled transaction): estimate below.
	default:
		f.u.UnknownCalls = append(f.u.UnknownCalls, op)
		return
	}
	if len(caps) == 0 {
		est, ok := estimate(params, result)
		if !ok {
			f.u.UnknownCalls = append(f.u.UnknownCalls, op)
			return
		}
		f.u.EstimatedCalls++
		for table, units := range est.tables {
			f.u.TableUnits[table] += units
		}
		f.u.ReadUnits += est.read
		f.u.WriteUnits += est.write
		return
	}
	est, estimated := estimate(params, result)
	if estimated {
		f.u.SizeRuleUnits += est.read + est.write
	}
	if table, floor, ok := emptyRead(params); ok && read && reported(caps) == 0 {
		f.u.EmptyReads++
		f.u.TableUnits[table] += floor
		f.u.ReadUnits += floor
		return
	}
	_, transaction := params.(*dynamodb.TransactWriteItemsInput)
	for _, c := range caps {
		total, index := units(c)
		raised := 0.0
		// DynamoDB Local charges a transaction's update of an existing item nothing (a Put of a
		// new line and an Update of its recipient report 2 units, where DynamoDB charges 2 per
		// item and KB, 4); the size rules, a lower bound, replace a figure below them.
		if short := est.tables[deref(c.TableName)] - (total - index); transaction && estimated && short > 0 {
			raised = short
			total += raised
			f.u.RaisedUnits += raised
		}
		f.u.TableUnits[deref(c.TableName)] += total
		f.u.IndexUnits += index
		r, w := deref(c.ReadCapacityUnits), deref(c.WriteCapacityUnits)
		if r+w == 0 {
			// Only the total reported: the operation says which it was.
			if read {
				r = total
			} else {
				w = total
			}
		} else {
			w += raised
		}
		f.u.ReadUnits += r
		f.u.WriteUnits += w
	}
}

// emptyRead is what a GetItem, Query or Scan costs when it finds nothing, which DynamoDB Local
// reports as zero: DynamoDB charges it as a read of up to 4 KB ("if you perform a read
// operation on an item that doesn't exist, DynamoDB will still consume read throughput…
// For Query/Scan operations… even if no data exists", read-write-operations in the
// developer guide), half a unit eventually consistent. The mailer's and the digest function's
// scheduled runs are mostly such reads.
func emptyRead(params any) (table string, units float64, ok bool) {
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		return deref(in.TableName), readUnits(0, deref(in.ConsistentRead)), true
	case *dynamodb.QueryInput:
		return deref(in.TableName), readUnits(0, deref(in.ConsistentRead)), true
	case *dynamodb.ScanInput:
		return deref(in.TableName), readUnits(0, deref(in.ConsistentRead)), true
	}
	return "", 0, false
}

// reported is the sum of the units a call's ConsumedCapacity reports.
func reported(caps []ddbtypes.ConsumedCapacity) float64 {
	var n float64
	for _, c := range caps {
		total, _ := units(c)
		n += total + deref(c.ReadCapacityUnits) + deref(c.WriteCapacityUnits)
	}
	return n
}

func one(c *ddbtypes.ConsumedCapacity) []ddbtypes.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []ddbtypes.ConsumedCapacity{*c}
}

// units returns a ConsumedCapacity's total (table and indexes) and its indexes' share.
func units(c ddbtypes.ConsumedCapacity) (total, index float64) {
	for _, ix := range c.GlobalSecondaryIndexes {
		index += deref(ix.CapacityUnits)
	}
	for _, ix := range c.LocalSecondaryIndexes {
		index += deref(ix.CapacityUnits)
	}
	if c.CapacityUnits != nil {
		return *c.CapacityUnits, index
	}
	var table float64
	if c.Table != nil {
		table = deref(c.Table.CapacityUnits)
	}
	return table + index, index
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// sqsRequests returns how many requests SQS bills for one call: one per 64 KB chunk of the
// messages it carries (bodies and attributes), sent or received, and one for any other call.
func sqsRequests(params, result any) int {
	size := 0
	switch in := params.(type) {
	case *sqs.SendMessageInput:
		size = len(deref(in.MessageBody)) + attributesSize(in.MessageAttributes)
	case *sqs.SendMessageBatchInput:
		for _, e := range in.Entries {
			size += len(deref(e.MessageBody)) + attributesSize(e.MessageAttributes)
		}
	}
	if out, ok := result.(*sqs.ReceiveMessageOutput); ok {
		for _, m := range out.Messages {
			size += len(deref(m.Body)) + attributesSize(m.MessageAttributes)
		}
	}
	return max(1, (size+sqsChunk-1)/sqsChunk)
}

// attributesSize is the size SQS counts for message attributes: name, type and value of each.
func attributesSize(attrs map[string]sqstypes.MessageAttributeValue) int {
	n := 0
	for name, v := range attrs {
		n += len(name) + len(deref(v.DataType)) + len(deref(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// entrySize is a PutEvents entry's billed size, as the EventBridge user guide computes it:
// source, detail-type, detail and resources in UTF-8 bytes, plus 14 for a time.
func entrySize(e ebtypes.PutEventsRequestEntry) int {
	n := len(deref(e.Source)) + len(deref(e.DetailType)) + len(deref(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	if e.Time != nil {
		n += eventBridgeTimeSize
	}
	return n
}

// EventSize is the billed size of an event a producer puts with these fields and a time.
func EventSize(source, detailType string, detail []byte, resources []string) int {
	n := len(source) + len(detailType) + len(detail) + eventBridgeTimeSize
	for _, r := range resources {
		n += len(r)
	}
	return n
}

// EventChunks is how many events EventBridge bills for an entry of size bytes.
func EventChunks(size int) int { return max(1, (size+eventBridgeChunk-1)/eventBridgeChunk) }

// AddEvents bills events the function did not put itself: the producer's events that
// EventBridge delivers to a rule's target are billed once, when they are put.
func (f *Function) AddEvents(n int) {
	f.mu.Lock()
	f.u.Events += n
	f.mu.Unlock()
}

// String summarises the usage, for test logs.
func (u Usage) String() string {
	calls := make([]string, 0, len(u.Calls))
	for _, k := range slices.Sorted(maps.Keys(u.Calls)) {
		calls = append(calls, fmt.Sprintf("%s=%d", k, u.Calls[k]))
	}
	tables := make([]string, 0, len(u.TableUnits))
	for _, k := range slices.Sorted(maps.Keys(u.TableUnits)) {
		tables = append(tables, fmt.Sprintf("%s=%.1f", k, u.TableUnits[k]))
	}
	return fmt.Sprintf("invocations=%d billed=%s RRU=%.1f WRU=%.1f (indexes %.1f; by table %s; table units by the size rules %.1f; estimated calls %d; empty reads %d; transaction units raised %.1f) SQS=%d requests/%d calls events=%d SES=%d emails/%d calls log=%dB metrics=%dB calls: %s",
		u.Invocations, u.Billed, u.ReadUnits, u.WriteUnits, u.IndexUnits, strings.Join(tables, " "), u.SizeRuleUnits, u.EstimatedCalls, u.EmptyReads, u.RaisedUnits,
		u.SQSRequests, u.SQSCalls, u.Events, u.SESEmails, u.SESCalls, u.LogBytes, u.MetricBytes, strings.Join(calls, " "))
}
