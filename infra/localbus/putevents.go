package localbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// The wire protocol, from EventBridge's service model (events 2015-10-07: protocol "json",
// jsonVersion 1.1, targetPrefix AWSEvents, PutEvents at POST /).
const (
	contentType     = "application/x-amz-json-1.1"
	targetPutEvents = "AWSEvents.PutEvents"
)

// Limits EventBridge documents for PutEvents.
const (
	// maxEntries is PutEventsRequestEntryList's max.
	maxEntries = 10
	// maxEntriesBytes is the limit on the total entry size of one request ("less than 1MB"),
	// computed as EventBridge does (entriesSize); older documentation says 256 KB.
	maxEntriesBytes = 1 << 20
	// maxDetailTypeChars is DetailType's documented maximum ("a maximum of 128 characters").
	maxDetailTypeChars = 128
	// maxTraceHeaderChars and maxEventBusNameChars are the model's string length limits.
	maxTraceHeaderChars  = 500
	maxEventBusNameChars = 1600
)

// eventBusNameOrARN is the model's pattern of PutEventsRequestEntry.EventBusName
// (NonPartnerEventBusNameOrArn), anchored.
var eventBusNameOrARN = regexp.MustCompile(`^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[.\-_A-Za-z0-9]+$`)

// Per-entry error codes, as EventBridge's PutEventsResultEntry documents them.
const (
	// ErrorCodeInvalidArgument: a required parameter is missing or out of bounds.
	ErrorCodeInvalidArgument = "InvalidArgument"
	// ErrorCodeMalformedDetail: Detail is not a JSON object.
	ErrorCodeMalformedDetail = "MalformedDetail"
	// ErrorCodeInternalFailure: the sink could not persist the entry's invocations; retryable.
	ErrorCodeInternalFailure = "InternalFailure"
)

// Request-level errors: the __type of an AWS JSON error response (body
// {"__type": ..., "message": ...}).
const (
	// ValidationException fails a request EventBridge's model or limits reject (HTTP 400): no
	// Entries, more than 10, an invalid EventBusName or TraceHeader, over 1 MB of entries.
	ValidationException = "ValidationException"
	// SerializationException fails a body that is not a PutEvents request in JSON (HTTP 400).
	SerializationException = "SerializationException"
	// UnknownOperationException fails an X-Amz-Target other than AWSEvents.PutEvents (HTTP 400).
	UnknownOperationException = "UnknownOperationException"
	// The bus's own answers to requests no AWS client sends: a method other than POST (405), a
	// content type other than AWS JSON 1.1 (415), a body over Options.MaxRequestBytes (413).
	MethodNotAllowedException      = "MethodNotAllowedException"
	UnsupportedMediaTypeException  = "UnsupportedMediaTypeException"
	RequestEntityTooLargeException = "RequestEntityTooLargeException"
)

// Messages of EventBridge's own where it has one (MalformedDetail, the size limit), ours else.
// InternalFailure's never carries the sink's error, which is logged instead.
const (
	msgInternalFailure         = "The entry could not be persisted; retry it."
	msgMalformedDetail         = "Detail is malformed."
	msgTotalSizeOverLimit      = "Total size of the entries in the request is over the limit."
	msgRequestNotPutEventsJSON = "The request body is not a valid PutEvents request in JSON."
)

// putEventsRequest is PutEventsRequest on the wire. Pointers tell an absent member from an
// empty one, as EventBridge does for its required-member checks.
type putEventsRequest struct {
	Entries    *[]*requestEntry `json:"Entries"`
	EndpointID *string          `json:"EndpointId"`
}

// requestEntry is PutEventsRequestEntry on the wire.
type requestEntry struct {
	Source       *string       `json:"Source"`
	DetailType   *string       `json:"DetailType"`
	Detail       *string       `json:"Detail"`
	Resources    []string      `json:"Resources"`
	Time         *epochSeconds `json:"Time"`
	EventBusName *string       `json:"EventBusName"`
	TraceHeader  *string       `json:"TraceHeader"`
}

// epochSeconds is an AWS JSON timestamp: seconds since the Unix epoch as a JSON number,
// fractional when the client keeps milliseconds (aws-sdk-go-v2 does).
type epochSeconds struct{ time.Time }

// The timestamps an envelope's four-digit-year "time" can show: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z.
const (
	minEpochSeconds = -62135596800
	maxEpochSeconds = 253402300799
)

func (t *epochSeconds) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil || len(b) == 0 || b[0] == '"' {
		return fmt.Errorf("timestamp %s is not epoch seconds", b)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < minEpochSeconds || f > maxEpochSeconds {
		return fmt.Errorf("timestamp %s is out of range", b)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

type putEventsResponse struct {
	FailedEntryCount int           `json:"FailedEntryCount"`
	Entries          []resultEntry `json:"Entries"`
}

type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type errorResponse struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// envelope is the EventBridge event as targets receive it, members in EventBridge's order.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ServeHTTP serves EventBridge's PutEvents.
func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := b.newID()
	// Spelled as EventBridge spells it; aws-sdk-go-v2 reads it into the result's metadata.
	w.Header()["x-amzn-RequestId"] = []string{requestID}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		b.fail(w, requestID, http.StatusMethodNotAllowed, MethodNotAllowedException,
			fmt.Sprintf("Method %s is not allowed: EventBridge's API takes POST.", r.Method))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != contentType {
		b.fail(w, requestID, http.StatusUnsupportedMediaType, UnsupportedMediaTypeException,
			fmt.Sprintf("Content-Type %q is not supported: EventBridge's API takes %s.", r.Header.Get("Content-Type"), contentType))
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != targetPutEvents {
		b.fail(w, requestID, http.StatusBadRequest, UnknownOperationException,
			fmt.Sprintf("Operation %q is not supported: this bus serves %s only.", target, targetPutEvents))
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			b.fail(w, requestID, http.StatusRequestEntityTooLarge, RequestEntityTooLargeException,
				fmt.Sprintf("The request body is larger than %d bytes.", b.maxBody))
			return
		}
		// The client went away mid-body; nobody is left to answer.
		b.log.Warn("read PutEvents request", "request_id", requestID, "error", err)
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		b.log.Warn("decode PutEvents request", "request_id", requestID, "error", err)
		b.fail(w, requestID, http.StatusBadRequest, SerializationException, msgRequestNotPutEventsJSON)
		return
	}
	if msg := validateRequest(req); msg != "" {
		b.fail(w, requestID, http.StatusBadRequest, ValidationException, msg)
		return
	}

	resp := b.putEvents(r.Context(), requestID, *req.Entries)
	out, err := json.Marshal(resp)
	if err != nil {
		// Unreachable: the response holds only strings and an int.
		b.log.Error("encode PutEvents response", "request_id", requestID, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeRequest reads exactly one JSON object holding a PutEvents request.
func decodeRequest(body []byte) (*putEventsRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var req putEventsRequest
	if err := dec.Decode(&req); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the request object")
	}
	return &req, nil
}

// validateRequest applies the model's constraints that fail a whole request, in the words of
// AWS's validation messages. It returns "" when the request is valid.
func validateRequest(req *putEventsRequest) string {
	if req.Entries == nil {
		return "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null"
	}
	entries := *req.Entries
	switch {
	case len(entries) < 1:
		return "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1"
	case len(entries) > maxEntries:
		return fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d", maxEntries)
	}
	var violations []string
	for i, e := range entries {
		if e == nil {
			continue
		}
		at := fmt.Sprintf("entries.%d.member", i+1)
		if e.EventBusName != nil {
			n := utf8.RuneCountInString(*e.EventBusName)
			switch {
			case n < 1 || n > maxEventBusNameChars:
				violations = append(violations, fmt.Sprintf("Value '%s' at '%s.eventBusName' failed to satisfy constraint: Member must have length between 1 and %d", *e.EventBusName, at, maxEventBusNameChars))
			case !eventBusNameOrARN.MatchString(*e.EventBusName):
				violations = append(violations, fmt.Sprintf("Value '%s' at '%s.eventBusName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", *e.EventBusName, at, eventBusNameOrARN.String()))
			}
		}
		if e.TraceHeader != nil {
			if n := utf8.RuneCountInString(*e.TraceHeader); n < 1 || n > maxTraceHeaderChars {
				violations = append(violations, fmt.Sprintf("Value '%s' at '%s.traceHeader' failed to satisfy constraint: Member must have length between 1 and %d", *e.TraceHeader, at, maxTraceHeaderChars))
			}
		}
	}
	switch len(violations) {
	case 0:
	case 1:
		return "1 validation error detected: " + violations[0]
	default:
		return fmt.Sprintf("%d validation errors detected: %s", len(violations), strings.Join(violations, "; "))
	}
	if entriesSize(entries) > maxEntriesBytes {
		return msgTotalSizeOverLimit
	}
	return ""
}

// entriesSize is the total entry size as EventBridge computes it ("Calculating PutEvents event
// entry size"): 14 bytes for a Time, plus the UTF-8 bytes of Source, DetailType, Detail and
// each resource.
func entriesSize(entries []*requestEntry) int {
	n := 0
	for _, e := range entries {
		if e == nil {
			continue
		}
		if e.Time != nil {
			n += 14
		}
		for _, s := range []*string{e.Source, e.DetailType, e.Detail} {
			if s != nil {
				n += len(*s)
			}
		}
		for _, r := range e.Resources {
			n += len(r)
		}
	}
	return n
}

// accepted is an entry that passed validation, with its event and the decoded form the rules
// match against.
type accepted struct {
	index    int
	id       string
	envelope []byte
	decoded  map[string]any
	bus      string
	invoked  bool
}

// putEvents checks each entry, routes the valid ones and hands all their invocations to the
// sink in one Accept call.
func (b *Bus) putEvents(ctx context.Context, requestID string, entries []*requestEntry) putEventsResponse {
	results := make([]resultEntry, len(entries))
	var (
		ok          []*accepted
		invocations []Invocation
	)
	for i, e := range entries {
		if e == nil {
			e = &requestEntry{}
		}
		a, code, msg := b.accept(i, e)
		if code != "" {
			results[i] = resultEntry{ErrorCode: code, ErrorMessage: msg}
			b.rejected(requestID, i, e, code, msg)
			continue
		}
		var elsewhere []string
		for _, rule := range b.rules {
			if !rule.Pattern.MatchDecoded(a.decoded) {
				continue
			}
			if rule.Bus != a.bus {
				elsewhere = append(elsewhere, rule.Name+" on bus "+rule.Bus)
				continue
			}
			invocations = append(invocations, Invocation{Function: rule.Function, Event: a.envelope})
			a.invoked = true
		}
		if !a.invoked && len(elsewhere) > 0 {
			// As on AWS the event goes nowhere; unlike AWS, say why, since the likely cause is
			// a producer that left EventBusName out.
			b.log.Warn("event routed to no rule: it was put on another bus than the rules it matches",
				"request_id", requestID, "entry", i, "event_bus", a.bus, "matching_rules", strings.Join(elsewhere, ", "),
				"fix", "set EventBusName on the PutEvents entry")
		}
		ok = append(ok, a)
	}

	var sinkErr error
	if len(invocations) > 0 {
		if sinkErr = b.sink.Accept(ctx, invocations); sinkErr != nil {
			b.log.Error("persist PutEvents invocations", "request_id", requestID,
				"invocations", len(invocations), "error", sinkErr)
		}
	}
	for _, a := range ok {
		if sinkErr != nil && a.invoked {
			results[a.index] = resultEntry{ErrorCode: ErrorCodeInternalFailure, ErrorMessage: msgInternalFailure}
			b.rejected(requestID, a.index, entries[a.index], ErrorCodeInternalFailure, msgInternalFailure)
			continue
		}
		results[a.index] = resultEntry{EventID: a.id}
	}

	failed := 0
	for _, res := range results {
		if res.ErrorCode != "" {
			failed++
		}
	}
	return putEventsResponse{FailedEntryCount: failed, Entries: results}
}

// accept validates one entry as EventBridge does and builds its event; code and msg say why
// the entry fails otherwise. Source, DetailType and Detail are checked in that order, and an
// empty string counts as missing, as on AWS.
func (b *Bus) accept(i int, e *requestEntry) (a *accepted, code, msg string) {
	for _, req := range []struct {
		name string
		v    *string
	}{{"Source", e.Source}, {"DetailType", e.DetailType}, {"Detail", e.Detail}} {
		if req.v == nil || *req.v == "" {
			return nil, ErrorCodeInvalidArgument,
				fmt.Sprintf("Parameter %s is not valid. Reason: %s is a required argument.", req.name, req.name)
		}
	}
	if utf8.RuneCountInString(*e.DetailType) > maxDetailTypeChars {
		return nil, ErrorCodeInvalidArgument,
			fmt.Sprintf("Parameter DetailType is not valid. Reason: DetailType is longer than %d characters.", maxDetailTypeChars)
	}
	detail, ok := decodeObject(*e.Detail)
	if !ok {
		return nil, ErrorCodeMalformedDetail, msgMalformedDetail
	}

	id := b.newID()
	t := b.now()
	if e.Time != nil {
		t = e.Time.Time
	}
	// EventBridge's envelope time has second precision: RFC 3339 in UTC without a fraction.
	stamp := t.UTC().Format(time.RFC3339)
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	env, err := marshalEnvelope(envelope{
		Version:    "0",
		ID:         id,
		DetailType: *e.DetailType,
		Source:     *e.Source,
		Account:    b.account,
		Time:       stamp,
		Region:     b.region,
		Resources:  resources,
		Detail:     json.RawMessage(*e.Detail),
	})
	if err != nil {
		// Unreachable: Detail was just decoded as a JSON object.
		return nil, ErrorCodeMalformedDetail, msgMalformedDetail
	}
	resAny := make([]any, len(resources))
	for j, r := range resources {
		resAny[j] = r
	}
	bus := DefaultBus
	if e.EventBusName != nil {
		bus = busName(*e.EventBusName)
	}
	return &accepted{
		index:    i,
		id:       id,
		envelope: env,
		bus:      bus,
		decoded: map[string]any{
			"version":     "0",
			"id":          id,
			"detail-type": *e.DetailType,
			"source":      *e.Source,
			"account":     b.account,
			"time":        stamp,
			"region":      b.region,
			"resources":   resAny,
			"detail":      detail,
		},
	}, "", ""
}

// Publish puts one event of source on bus (DefaultBus when empty) from inside the process, as
// a PutEvents request would: it is routed by the same rules, and an error says it was not
// accepted.
func (b *Bus) Publish(ctx context.Context, bus, source, detailType string, detail []byte) error {
	d := string(detail)
	e := &requestEntry{Source: &source, DetailType: &detailType, Detail: &d}
	if bus != "" {
		e.EventBusName = &bus
	}
	resp := b.putEvents(ctx, "in-process", []*requestEntry{e})
	if res := resp.Entries[0]; res.ErrorCode != "" {
		return fmt.Errorf("publish %q: %s: %s", detailType, res.ErrorCode, res.ErrorMessage)
	}
	return nil
}

// decodeObject decodes s as exactly one JSON object, numbers kept as json.Number for the
// pattern matcher's exact comparisons.
func decodeObject(s string) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// marshalEnvelope encodes the event without HTML escaping, so that the detail reaches the
// function with the bytes the producer sent (only insignificant whitespace is removed).
func marshalEnvelope(env envelope) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// rejected logs and counts one failed entry.
func (b *Bus) rejected(requestID string, i int, e *requestEntry, code, msg string) {
	b.counter.Count(MetricEventsRejected, code)
	b.log.Warn("PutEvents entry rejected", "request_id", requestID, "entry", i,
		"error_code", code, "reason", msg,
		"source", deref(e.Source), "detail_type", deref(e.DetailType), "event_bus", deref(e.EventBusName))
}

// fail logs, counts and writes a request-level error in the AWS JSON 1.1 error shape.
func (b *Bus) fail(w http.ResponseWriter, requestID string, status int, typ, msg string) {
	b.counter.Count(MetricEventsRejected, typ)
	b.log.Warn("PutEvents request rejected", "request_id", requestID, "status", status,
		"error_type", typ, "reason", msg)
	out, err := json.Marshal(errorResponse{Type: typ, Message: msg})
	if err != nil {
		http.Error(w, msg, status)
		return
	}
	writeJSON(w, status, out)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
