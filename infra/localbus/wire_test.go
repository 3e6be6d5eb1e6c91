package localbus_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/infra/localbus"
)

// rawRequest writes an HTTP/1.1 request as it goes on the wire: the request line and headers
// given one per line, then Content-Length and the body.
func rawRequest(head, body string) string {
	head = strings.TrimSpace(head)
	return strings.ReplaceAll(head, "\n", "\r\n") +
		fmt.Sprintf("\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", len(body)) + body
}

// roundTrip sends raw bytes to the server and reads the response off the connection.
func roundTrip(t *testing.T, srv *httptest.Server, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

const putEventsHead = `POST / HTTP/1.1
Content-Type: application/x-amz-json-1.1
X-Amz-Target: AWSEvents.PutEvents`

// TestWireFormat sends literal PutEvents requests and compares the responses byte for byte,
// with IDs from sequentialIDs (the request takes ID 1, accepted entries the next ones).
func TestWireFormat(t *testing.T) {
	t.Parallel()
	bigDetail := `{"blob":"` + strings.Repeat("x", 1<<20) + `"}`
	elevenEntries := strings.TrimSuffix(strings.Repeat(`{"Source":"s","DetailType":"d","Detail":"{}"},`, 11), ",")

	tests := []struct {
		name       string
		opts       localbus.Options
		head       string
		body       string
		wantStatus int
		wantBody   string
		// wantEvents are the envelopes handed to the sink, all for RouterFunction.
		wantEvents []string
		wantHeader map[string]string
	}{
		{
			name: "one entry matching the router's rule, one matching nothing",
			head: putEventsHead,
			body: `{"Entries":[` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{\"task_id\": \"t-1\",\n \"note\": \"<b>&</b>\"}","Resources":["arn:aws:s3:::bucket"],"Time":1711379935.406},` +
				`{"Source":"acme.workflow","DetailType":"Task Stage Transition","Detail":"{}"}]}`,
			wantStatus: http.StatusOK,
			wantBody:   `{"FailedEntryCount":0,"Entries":[{"EventId":"` + id(2) + `"},{"EventId":"` + id(3) + `"}]}`,
			wantEvents: []string{
				`{"version":"0","id":"` + id(2) + `","detail-type":"Task Stage Transition","source":"encord.workflow","account":"000000000000","time":"2024-03-25T15:18:55Z","region":"us-east-1","resources":["arn:aws:s3:::bucket"],"detail":{"task_id":"t-1","note":"<b>&</b>"}}`,
			},
			wantHeader: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amzn-Requestid": id(1)},
		},
		{
			name:       "no Time takes the clock, no Resources is an empty array, account and region from Options",
			opts:       localbus.Options{Account: "123456789012", Region: "eu-west-1"},
			head:       putEventsHead,
			body:       `{"Entries":[{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{\"n\":1.50}","EventBusName":"default"}]}`,
			wantStatus: http.StatusOK,
			wantBody:   `{"FailedEntryCount":0,"Entries":[{"EventId":"` + id(2) + `"}]}`,
			wantEvents: []string{
				`{"version":"0","id":"` + id(2) + `","detail-type":"Task Stage Transition","source":"encord.workflow","account":"123456789012","time":"2026-05-04T03:02:01Z","region":"eu-west-1","resources":[],"detail":{"n":1.50}}`,
			},
		},
		{
			name: "the default bus named by ARN is the default bus; another bus has no rules",
			head: putEventsHead,
			body: `{"Entries":[` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{}","EventBusName":"arn:aws:events:us-east-1:000000000000:event-bus/default"},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{}","EventBusName":"herald-other"}]}`,
			wantStatus: http.StatusOK,
			wantBody:   `{"FailedEntryCount":0,"Entries":[{"EventId":"` + id(2) + `"},{"EventId":"` + id(3) + `"}]}`,
			wantEvents: []string{
				`{"version":"0","id":"` + id(2) + `","detail-type":"Task Stage Transition","source":"encord.workflow","account":"000000000000","time":"2026-05-04T03:02:01Z","region":"us-east-1","resources":[],"detail":{}}`,
			},
		},
		{
			name: "each invalid entry fails on its own, in request order, the valid one succeeds",
			head: putEventsHead,
			body: `{"Entries":[` +
				`{},` +
				`{"Source":"encord.workflow"},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition"},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":""},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"task moved"},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"\"task moved\""},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"[{}]"},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{} {}"},` +
				`{"Source":"encord.workflow","DetailType":"` + strings.Repeat("x", 129) + `","Detail":"{}"},` +
				`{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{\"ok\":true}"}]}`,
			wantStatus: http.StatusOK,
			wantBody: `{"FailedEntryCount":9,"Entries":[` +
				`{"ErrorCode":"InvalidArgument","ErrorMessage":"Parameter Source is not valid. Reason: Source is a required argument."},` +
				`{"ErrorCode":"InvalidArgument","ErrorMessage":"Parameter DetailType is not valid. Reason: DetailType is a required argument."},` +
				`{"ErrorCode":"InvalidArgument","ErrorMessage":"Parameter Detail is not valid. Reason: Detail is a required argument."},` +
				`{"ErrorCode":"InvalidArgument","ErrorMessage":"Parameter Detail is not valid. Reason: Detail is a required argument."},` +
				`{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."},` +
				`{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."},` +
				`{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."},` +
				`{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."},` +
				`{"ErrorCode":"InvalidArgument","ErrorMessage":"Parameter DetailType is not valid. Reason: DetailType is longer than 128 characters."},` +
				`{"EventId":"` + id(2) + `"}]}`,
			wantEvents: []string{
				`{"version":"0","id":"` + id(2) + `","detail-type":"Task Stage Transition","source":"encord.workflow","account":"000000000000","time":"2026-05-04T03:02:01Z","region":"us-east-1","resources":[],"detail":{"ok":true}}`,
			},
		},
		{
			name: "a request signed with SigV4 is accepted without verification",
			head: putEventsHead + `
X-Amz-Date: 20260504T030201Z
X-Amz-Content-Sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260504/us-east-1/events/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000`,
			body:       `{"Entries":[{"Source":"acme","DetailType":"d","Detail":"{}"}]}`,
			wantStatus: http.StatusOK,
			wantBody:   `{"FailedEntryCount":0,"Entries":[{"EventId":"` + id(2) + `"}]}`,
		},
		{
			name:       "a charset parameter on the content type is accepted",
			head:       "POST / HTTP/1.1\nContent-Type: application/x-amz-json-1.1; charset=utf-8\nX-Amz-Target: AWSEvents.PutEvents",
			body:       `{"Entries":[{"Source":"acme","DetailType":"d","Detail":"{}"}],"EndpointId":"abcde.veo"}`,
			wantStatus: http.StatusOK,
			wantBody:   `{"FailedEntryCount":0,"Entries":[{"EventId":"` + id(2) + `"}]}`,
		},
		{
			name:       "more than 10 entries",
			head:       putEventsHead,
			body:       `{"Entries":[` + elevenEntries + `]}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"ValidationException","message":"1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"}`,
			wantHeader: map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amzn-Requestid": id(1)},
		},
		{
			name:       "no entries",
			head:       putEventsHead,
			body:       `{"Entries":[]}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"ValidationException","message":"1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1"}`,
		},
		{
			name:       "Entries missing",
			head:       putEventsHead,
			body:       `{}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"ValidationException","message":"1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null"}`,
		},
		{
			name:       "an EventBusName that is neither a name nor an event bus ARN",
			head:       putEventsHead,
			body:       `{"Entries":[{"Source":"s","DetailType":"d","Detail":"{}"},{"Source":"s","DetailType":"d","Detail":"{}","EventBusName":"my bus"}]}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"ValidationException","message":"1 validation error detected: Value 'my bus' at 'entries.2.member.eventBusName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(arn:aws[\\w-]*:events:[a-z]+-[a-z]+-[\\w-]+:[0-9]{12}:event-bus/)?[.\\-_A-Za-z0-9]+$"}`,
		},
		{
			name:       "entries over EventBridge's 1 MB total",
			head:       putEventsHead,
			body:       `{"Entries":[{"Source":"s","DetailType":"d","Detail":` + fmt.Sprintf("%q", bigDetail) + `}]}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"ValidationException","message":"Total size of the entries in the request is over the limit."}`,
		},
		{
			name:       "a body over MaxRequestBytes",
			opts:       localbus.Options{MaxRequestBytes: 64},
			head:       putEventsHead,
			body:       `{"Entries":[{"Source":"s","DetailType":"d","Detail":"{\"padding\":\"` + strings.Repeat("p", 64) + `\"}"}]}`,
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"__type":"RequestEntityTooLargeException","message":"The request body is larger than 64 bytes."}`,
		},
		{
			name:       "a body that is not JSON",
			head:       putEventsHead,
			body:       `Entries=1`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"SerializationException","message":"The request body is not a valid PutEvents request in JSON."}`,
		},
		{
			name:       "a Time that is not epoch seconds",
			head:       putEventsHead,
			body:       `{"Entries":[{"Source":"s","DetailType":"d","Detail":"{}","Time":"2024-03-25T15:18:55Z"}]}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"SerializationException","message":"The request body is not a valid PutEvents request in JSON."}`,
		},
		{
			name:       "another EventBridge operation",
			head:       "POST / HTTP/1.1\nContent-Type: application/x-amz-json-1.1\nX-Amz-Target: AWSEvents.PutRule",
			body:       `{"Name":"r"}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"UnknownOperationException","message":"Operation \"AWSEvents.PutRule\" is not supported: this bus serves AWSEvents.PutEvents only."}`,
		},
		{
			name:       "no X-Amz-Target",
			head:       "POST / HTTP/1.1\nContent-Type: application/x-amz-json-1.1",
			body:       `{"Entries":[]}`,
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"__type":"UnknownOperationException","message":"Operation \"\" is not supported: this bus serves AWSEvents.PutEvents only."}`,
		},
		{
			name:       "GET",
			head:       "GET / HTTP/1.1",
			wantStatus: http.StatusMethodNotAllowed,
			wantBody:   `{"__type":"MethodNotAllowedException","message":"Method GET is not allowed: EventBridge's API takes POST."}`,
			wantHeader: map[string]string{"Allow": "POST"},
		},
		{
			name:       "plain JSON content type",
			head:       "POST / HTTP/1.1\nContent-Type: application/json\nX-Amz-Target: AWSEvents.PutEvents",
			body:       `{"Entries":[{"Source":"s","DetailType":"d","Detail":"{}"}]}`,
			wantStatus: http.StatusUnsupportedMediaType,
			wantBody:   `{"__type":"UnsupportedMediaTypeException","message":"Content-Type \"application/json\" is not supported: EventBridge's API takes application/x-amz-json-1.1."}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newTestBus(t, tt.opts)
			srv := httptest.NewServer(bus)
			defer srv.Close()

			resp, body := roundTrip(t, srv, rawRequest(tt.head, tt.body))

			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if body != tt.wantBody {
				t.Errorf("body:\n got %s\nwant %s", body, tt.wantBody)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type = %q", got)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			var got []string
			for _, inv := range bus.sink.Invocations() {
				if inv.Function != "RouterFunction" {
					t.Errorf("invocation of %s, want RouterFunction", inv.Function)
				}
				got = append(got, string(inv.Event))
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantEvents, "\n") {
				t.Errorf("events:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.wantEvents, "\n     "))
			}
			if calls := len(bus.sink.Calls()); calls > 1 {
				t.Errorf("Accept called %d times, want at most once per request", calls)
			}
		})
	}
}
