package localbus_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/heraldhq/herald/infra/localbus"
)

// newEventBridgeClient is a producer's client pointed at the bus. The configuration is loaded as
// a producer loads it, with static credentials; no config.WithHTTPClient, which fails when
// AWS_CA_BUNDLE is set ("unable to add custom RootCAs HTTPClient").
func newEventBridgeClient(t *testing.T, url string) *eventbridge.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDLOCALBUSTEST", "localbus-test-secret", "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		o.BaseEndpoint = aws.String(url)
	})
}

// TestSDKPutEvents: aws-sdk-go-v2's eventbridge client publishes to the bus and reads its
// answers: per-entry results, request-level errors as typed API errors, InternalFailure when the
// sink fails, and the request ID.
func TestSDKPutEvents(t *testing.T) {
	t.Parallel()
	ev := readSample(t, "router/task-submitted.json")
	evTime, err := time.Parse(time.RFC3339, ev.Time)
	if err != nil {
		t.Fatal(err)
	}
	routerEntry := func() ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{
			Source:      aws.String(ev.Source),
			DetailType:  aws.String(ev.DetailType),
			Detail:      aws.String(string(ev.Detail)),
			Time:        aws.Time(evTime.Add(406 * time.Millisecond)),
			Resources:   []string{"arn:aws:s3:::herald-samples"},
			TraceHeader: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
		}
	}
	unmatched := ebtypes.PutEventsRequestEntry{
		Source: aws.String("acme.workflow"), DetailType: aws.String(ev.DetailType), Detail: aws.String("{}"),
		EventBusName: aws.String("arn:aws:events:us-east-1:000000000000:event-bus/default"),
	}
	malformed := ebtypes.PutEventsRequestEntry{
		Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType), Detail: aws.String(`"task moved"`),
	}
	eleven := make([]ebtypes.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = unmatched
	}

	tests := []struct {
		name     string
		entries  []ebtypes.PutEventsRequestEntry
		sinkErr  error
		wantErr  string // API error code of a failed call
		wantCode []string
		routed   int
	}{
		{
			name:     "accepted, refused and unmatched entries",
			entries:  []ebtypes.PutEventsRequestEntry{routerEntry(), malformed, unmatched},
			wantCode: []string{"", "MalformedDetail", ""},
			routed:   1,
		},
		{
			name:     "the sink fails: InternalFailure for the routed entry only",
			entries:  []ebtypes.PutEventsRequestEntry{routerEntry(), unmatched},
			sinkErr:  errors.New("disk full"),
			wantCode: []string{"InternalFailure", ""},
			routed:   1,
		},
		{
			name:    "more than 10 entries",
			entries: eleven,
			wantErr: "ValidationException",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bus := newTestBus(t, localbus.Options{})
			bus.sink.err = tt.sinkErr
			srv := httptest.NewServer(bus)
			defer srv.Close()
			client := newEventBridgeClient(t, srv.URL)

			out, err := client.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: tt.entries})

			if tt.wantErr != "" {
				var apiErr smithy.APIError
				var respErr *awshttp.ResponseError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantErr {
					t.Fatalf("error %v, want API error %s", err, tt.wantErr)
				}
				if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != http.StatusBadRequest || respErr.ServiceRequestID() != id(1) {
					t.Errorf("error %v, want HTTP 400 with request ID %s", err, id(1))
				}
				if n := len(bus.sink.Calls()); n != 0 {
					t.Errorf("Accept called %d times", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); reqID != id(1) {
				t.Errorf("request ID %q, want %s", reqID, id(1))
			}
			failed := 0
			for i, code := range tt.wantCode {
				e := out.Entries[i]
				if code == "" {
					if aws.ToString(e.EventId) == "" || e.ErrorCode != nil {
						t.Errorf("entry %d = %+v, want an EventId", i, e)
					}
					continue
				}
				failed++
				if aws.ToString(e.ErrorCode) != code || e.EventId != nil {
					t.Errorf("entry %d: ErrorCode %q, want %s", i, aws.ToString(e.ErrorCode), code)
				}
			}
			if int(out.FailedEntryCount) != failed || len(out.Entries) != len(tt.entries) {
				t.Errorf("FailedEntryCount %d of %d entries, want %d of %d", out.FailedEntryCount, len(out.Entries), failed, len(tt.entries))
			}
			invs := bus.sink.Invocations()
			if len(invs) != tt.routed {
				t.Fatalf("sink got %d invocations, want %d", len(invs), tt.routed)
			}
			if tt.sinkErr != nil {
				return
			}
			got := decodeEvent(t, invs[0].Event)
			if got.ID != aws.ToString(out.Entries[0].EventId) || got.Time != ev.Time ||
				got.Source != ev.Source || got.DetailType != ev.DetailType || !sameJSON(t, got.Detail, ev.Detail) {
				t.Errorf("event %s does not carry entry 0 (EventId %s, time %s)", invs[0].Event, aws.ToString(out.Entries[0].EventId), ev.Time)
			}
		})
	}
}
