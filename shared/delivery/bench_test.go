package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/signing"
)

// benchJob is the delivery benchmark's job (tests/bench): a stage-transition payload of the
// usual size.
var benchJob = func() []byte {
	payload := `{"uid":"687457ce-6489-4891-b7c8-544477d99e41","version":1,"source":"Encord","event_type":"task_submitted_event","event_created_timestamp":"2024-03-25T15:18:55.406529+00:00","payload":{"project_hash":"751a3a3e-46b6-4aad-b0b8-19b169f91266","data_hashes":["f0b012de-5aea-4457-b515-936b0c185771"],"label_hashes":["fdb9a21f-d9a7-48b5-9dac-dfe3e0e2c57f"]}}`
	body, err := json.Marshal(delivery.Job{ID: "687457ce-6489-4891-b7c8-544477d99e41", TenantID: "t", WebhookID: "w", EventType: "task_submitted_event", Payload: json.RawMessage(payload)})
	if err != nil {
		panic(err)
	}
	return body
}()

func BenchmarkDecodeJob(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := delivery.DecodeJob(benchJob); err != nil {
			b.Fatal(err)
		}
	}
}

// answer204 is a transport that answers every request at once, as a receiver answering 204
// would, after the work a real transport does with the request's context and body: what is
// left to time is the delivery path's own work.
type answer204 struct{}

func (answer204) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	_ = ctx.Done()
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{StatusCode: http.StatusNoContent, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

type oneEndpoint struct{ ep delivery.Endpoint }

func (o oneEndpoint) Endpoints(_ context.Context, refs []delivery.EndpointRef) (map[delivery.EndpointRef]delivery.Endpoint, error) {
	out := make(map[delivery.EndpointRef]delivery.Endpoint, len(refs))
	for _, r := range refs {
		out[r] = o.ep
	}
	return out, nil
}

func (oneEndpoint) DisableWebhook(context.Context, delivery.EndpointRef, string) error { return nil }

type discard struct{}

func (discard) RecordAttempts(context.Context, []delivery.Attempt) error         { return nil }
func (discard) RetryLater(context.Context, []delivery.Retry) ([]string, error)   { return nil, nil }
func (discard) Resend(context.Context, []delivery.Resend) error                  { return nil }
func (discard) DeadLetter(context.Context, []byte, string, delivery.Class) error { return nil }

// BenchmarkProcessOne is the delivery path of tests/bench's BenchmarkDeliveryPathVsBareClient
// without the network: a batch of one job, decoded, signed, posted and recorded. Its time and
// allocations are what Herald adds to a bare request; BenchmarkBareRequest is the bare
// client's share of the same work.
func BenchmarkProcessOne(b *testing.B) {
	secret, err := signing.NewSecret()
	if err != nil {
		b.Fatal(err)
	}
	sched, _ := delivery.ParseSchedule(delivery.DefaultSchedule)
	endpoints := delivery.NewCachedEndpoints(oneEndpoint{delivery.Endpoint{URL: "http://receiver.test/hook", Enabled: true, Secrets: []string{secret}}}, time.Minute)
	proc := &delivery.Processor{
		Endpoints: endpoints, Disabler: endpoints, Log: discard{}, Queue: discard{},
		Sender:   delivery.NewSender(&http.Client{Transport: answer204{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, 0),
		Schedule: sched, Logger: slog.New(slog.DiscardHandler),
	}
	msg := []delivery.Message{{ID: "m", ReceiptHandle: "r", Body: benchJob, ReceiveCount: 1}}
	b.ReportAllocs()
	for b.Loop() {
		if failed := proc.Process(context.Background(), msg); len(failed) != 0 {
			b.Fatal("delivery failed")
		}
	}
}

func BenchmarkBareRequest(b *testing.B) {
	client := &http.Client{Transport: answer204{}}
	header := http.Header{"Content-Type": {"application/json"}, "User-Agent": {delivery.UserAgent},
		"Webhook-Id": {"x"}, "Webhook-Timestamp": {"1"}, "Webhook-Signature": {"v1,x"}}
	var job delivery.Job
	if err := json.Unmarshal(benchJob, &job); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "http://receiver.test/hook", bytes.NewReader(job.Payload))
		req.Header = header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}
