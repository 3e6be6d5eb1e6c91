package api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// courier runs the real delivery processor over a backend's webhook store and attempt log.
// Webhook URLs in these tests are public addresses the API accepts; the sender's client dials
// a local receiver instead, whatever the URL says, and the receiver answers the status the
// test asks for.
type courier struct {
	t        *testing.T
	be       backend
	status   atomic.Int32
	receiver *httptest.Server
	schedule delivery.Schedule
}

func newCourier(t *testing.T, be backend) *courier {
	t.Helper()
	c := &courier{t: t, be: be}
	c.receiver = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := int(c.status.Load())
		w.WriteHeader(status)
		fmt.Fprintf(w, "receiver answered %d", status)
	}))
	t.Cleanup(c.receiver.Close)
	var err error
	// Three attempts: a job on its third receive that fails is dead-lettered.
	if c.schedule, err = delivery.ParseSchedule("1s,1s"); err != nil {
		t.Fatal(err)
	}
	return c
}

// deliver attempts jobs at the instant at, as attempt number `number` of each, with the
// receiver answering status.
func (c *courier) deliver(jobs []delivery.Job, number, status int, at time.Time) {
	c.t.Helper()
	c.status.Store(int32(status))
	transport := c.receiver.Client().Transport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the receiver's certificate names 127.0.0.1
	addr := c.receiver.Listener.Addr().String()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	p := &delivery.Processor{
		Endpoints: c.be.endpoints, Disabler: noDisabler{}, Log: c.be.attempts, Queue: noRetryQueue{},
		Sender:   delivery.NewSender(&http.Client{Transport: transport}, 5*time.Second),
		Schedule: c.schedule, Now: func() time.Time { return at },
	}
	var msgs []delivery.Message
	for i, j := range jobs {
		j.Attempts = number - 1
		body, err := json.Marshal(j)
		if err != nil {
			c.t.Fatal(err)
		}
		msgs = append(msgs, delivery.Message{ID: fmt.Sprint(i), Body: body, ReceiveCount: 1})
	}
	p.Process(context.Background(), msgs)
}

// noDisabler and noRetryQueue stand in for the queue side of the delivery path: these tests
// are about what the attempt log records and the API shows, not about how a retry is timed.
type noDisabler struct{}

func (noDisabler) DisableWebhook(context.Context, delivery.EndpointRef, string) error { return nil }

type noRetryQueue struct{}

func (noRetryQueue) RetryLater(context.Context, []delivery.Retry) ([]string, error) { return nil, nil }
func (noRetryQueue) Resend(context.Context, []delivery.Resend) error                { return nil }
func (noRetryQueue) DeadLetter(context.Context, []byte, string, delivery.Class) error {
	return nil
}

// takeJobs receives n queued jobs, waiting a little for a queue that hands them out slowly.
func takeJobs(t *testing.T, be backend, n int) []delivery.Job {
	t.Helper()
	var jobs []delivery.Job
	deadline := time.Now().Add(5 * time.Second)
	for len(jobs) < n && time.Now().Before(deadline) {
		jobs = append(jobs, be.jobs(t)...)
	}
	if len(jobs) != n {
		t.Fatalf("queued jobs %+v, want %d", jobs, n)
	}
	return jobs
}

func sendTestEvent(t *testing.T, be backend, tenant, webhookID string) string {
	t.Helper()
	res := be.call(t, tenant, "user-1", "POST", "/v1/webhooks/"+webhookID+"/test", nil, nil)
	if res.status != http.StatusAccepted {
		t.Fatalf("test event: %d %s", res.status, res.body)
	}
	return res.json(t)["delivery_id"].(string)
}

func items(t *testing.T, res response) []map[string]any {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("list: %d %s", res.status, res.body)
	}
	var out []map[string]any
	for _, it := range res.json(t)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func summary(list []map[string]any) string {
	var parts []string
	for _, a := range list {
		parts = append(parts, fmt.Sprintf("%s#%v:%v", a["delivery_id"], a["attempt"], a["outcome"]))
	}
	return strings.Join(parts, " ")
}

// TestDeliveryLog: three test events go through the real delivery path; one succeeds, one
// fails until it is dead-lettered, one is dead-lettered and then succeeds on a redelivery. The
// log lists, filters and pages them; a delivery shows its attempts and payload; redelivery and
// recovery queue the same delivery ids, recovery only the one still failed.
func TestDeliveryLog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		hook := create(t, be, "tenant-a", "stage-log", "https://8.8.8.8/log")["id"].(string)
		d1, d2, d3 := sendTestEvent(t, be, "tenant-a", hook), sendTestEvent(t, be, "tenant-a", hook), sendTestEvent(t, be, "tenant-a", hook)
		byID := map[string]delivery.Job{}
		for _, j := range takeJobs(t, be, 3) {
			byID[j.ID] = j
		}
		c := newCourier(t, be)
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		c.deliver([]delivery.Job{byID[d1]}, 1, 200, t0)
		c.deliver([]delivery.Job{byID[d2]}, 1, 500, t0.Add(time.Minute))
		c.deliver([]delivery.Job{byID[d2]}, 3, 500, t0.Add(2*time.Minute))
		c.deliver([]delivery.Job{byID[d3]}, 3, 503, t0.Add(3*time.Minute))
		c.deliver([]delivery.Job{byID[d3]}, 1, 200, t0.Add(4*time.Minute))

		base := "/v1/webhooks/" + hook + "/attempts"
		all := items(t, be.call(t, "tenant-a", "user-1", "GET", base, nil, nil))
		want := fmt.Sprintf("%s#1:succeeded %s#3:dead_lettered %s#3:dead_lettered %s#1:retrying %s#1:succeeded", d3, d3, d2, d2, d1)
		if got := summary(all); got != want {
			t.Fatalf("attempts newest first:\n got %s\nwant %s", got, want)
		}
		failed := all[2]
		if failed["status_code"] != float64(500) || failed["class"] != "http_5xx" || failed["snippet"] != "receiver answered 500" ||
			failed["at"] != t0.Add(2*time.Minute).Format(time.RFC3339) || failed["event_type"] != "task_submitted_event" {
			t.Errorf("dead-lettered attempt %v", failed)
		}
		if _, ok := failed["latency_ms"].(float64); !ok {
			t.Errorf("attempt has no latency_ms: %v", failed)
		}
		if retrying := all[3]; retrying["next_attempt_at"] == nil {
			t.Errorf("retrying attempt has no next_attempt_at: %v", retrying)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", base, nil, nil); bytes.Contains(res.body, []byte("payload")) {
			t.Errorf("the attempt list shows payloads: %s", res.body)
		}

		if got := summary(items(t, be.call(t, "tenant-a", "user-1", "GET", base+"?status=dead_lettered", nil, nil))); got != fmt.Sprintf("%s#3:dead_lettered %s#3:dead_lettered", d3, d2) {
			t.Errorf("status=dead_lettered: %s", got)
		}
		since := url.QueryEscape(t0.Add(90 * time.Second).Format(time.RFC3339))
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", base+"?since="+since, nil, nil)); len(got) != 3 {
			t.Errorf("since t0+90s: %s, want the 3 attempts after it", summary(got))
		}

		// Paging: 2 + 2 + 1, nothing twice, the same order as one page.
		var paged []map[string]any
		cursor, firstCursor := "", ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("paging never ends")
			}
			res := be.call(t, "tenant-a", "user-1", "GET", base+"?limit=2&cursor="+url.QueryEscape(cursor), nil, nil)
			paged = append(paged, items(t, res)...)
			next, _ := res.json(t)["next_cursor"].(string)
			if next == "" {
				break
			}
			if firstCursor == "" {
				firstCursor = next
			}
			cursor = next
		}
		if summary(paged) != want {
			t.Errorf("paged with limit=2:\n got %s\nwant %s", summary(paged), want)
		}

		other := create(t, be, "tenant-a", "stage-log-2", "https://8.8.8.8/log-2")["id"].(string)
		for _, c := range []struct{ query, field string }{
			{"?status=failed", "status"},
			{"?since=yesterday", "since"},
			{"?limit=0", "limit"},
			{"?limit=101", "limit"},
			{"?cursor=not-a-cursor", "cursor"},
		} {
			res := be.call(t, "tenant-a", "user-1", "GET", base+c.query, nil, nil)
			if res.status != 422 || !strings.Contains(string(res.body), `"field":"`+c.field+`"`) {
				t.Errorf("%s: %d %s, want 422 naming %s", c.query, res.status, res.body, c.field)
			}
		}
		// A cursor is bound to the webhook whose list issued it.
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+other+"/attempts?cursor="+url.QueryEscape(firstCursor), nil, nil); res.status != 422 ||
			!strings.Contains(string(res.body), `"field":"cursor"`) {
			t.Errorf("another webhook's cursor: %d %s", res.status, res.body)
		}
		if got := items(t, be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/"+other+"/attempts", nil, nil)); len(got) != 0 {
			t.Errorf("a webhook without deliveries lists %s", summary(got))
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/webhooks/wh_nonexistent/attempts", nil, nil); res.status != 404 {
			t.Errorf("attempts of a webhook that does not exist: %d %s", res.status, res.body)
		}

		got := be.call(t, "tenant-a", "user-1", "GET", "/v1/deliveries/"+d2, nil, nil)
		if got.status != 200 {
			t.Fatalf("get delivery: %d %s", got.status, got.body)
		}
		var dv struct {
			ID, WebhookID, EventType, Outcome string
			Attempts                          []map[string]any
			Payload                           json.RawMessage
		}
		if err := json.Unmarshal(got.body, &dv); err != nil {
			t.Fatal(err)
		}
		if dv.ID != d2 || dv.Outcome != "dead_lettered" || len(dv.Attempts) != 2 || dv.Attempts[0]["outcome"] != "retrying" ||
			dv.Attempts[1]["outcome"] != "dead_lettered" || !jsonEqual(dv.Payload, byID[d2].Payload) {
			t.Errorf("delivery %s: %s", d2, got.body)
		}
		if res := be.call(t, "tenant-a", "user-1", "GET", "/v1/deliveries/no-such-delivery", nil, nil); res.status != 404 {
			t.Errorf("unknown delivery: %d %s", res.status, res.body)
		}

		res := be.call(t, "tenant-a", "user-1", "POST", "/v1/deliveries/"+d1+"/redeliver", nil, nil)
		if res.status != http.StatusAccepted || res.json(t)["delivery_id"] != d1 {
			t.Fatalf("redeliver: %d %s", res.status, res.body)
		}
		if jobs := takeJobs(t, be, 1); jobs[0].ID != d1 || jobs[0].WebhookID != hook || jobs[0].Attempts != 0 || !jsonEqual(jobs[0].Payload, byID[d1].Payload) {
			t.Errorf("redelivery queued %+v, want delivery %s again with its payload", jobs[0], d1)
		}

		// Only d2 is still failed: d3 succeeded after it was dead-lettered.
		body := fmt.Sprintf(`{"since":%q}`, t0.Add(-time.Second).Format(time.RFC3339))
		res = be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks/"+hook+"/recover", []byte(body), jsonHeader)
		if res.status != http.StatusAccepted || res.json(t)["queued"] != float64(1) {
			t.Fatalf("recover: %d %s", res.status, res.body)
		}
		if jobs := takeJobs(t, be, 1); jobs[0].ID != d2 || !jsonEqual(jobs[0].Payload, byID[d2].Payload) {
			t.Errorf("recovery queued %+v, want delivery %s", jobs[0], d2)
		}
		for _, c := range []struct{ body, field string }{
			{`{}`, "since"},
			{`{"since":"last tuesday"}`, "since"},
			{fmt.Sprintf(`{"since":%q}`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), "since"},
			{fmt.Sprintf(`{"since":%q,"limit":0}`, t0.Format(time.RFC3339)), "limit"},
			{fmt.Sprintf(`{"since":%q,"limit":1001}`, t0.Format(time.RFC3339)), "limit"},
			{fmt.Sprintf(`{"since":%q,"limit":"ten"}`, t0.Format(time.RFC3339)), "limit"},
			{fmt.Sprintf(`{"since":%q,"until":"now"}`, t0.Format(time.RFC3339)), "until"},
		} {
			res := be.call(t, "tenant-a", "user-1", "POST", "/v1/webhooks/"+hook+"/recover", []byte(c.body), jsonHeader)
			if res.status != 422 || !strings.Contains(string(res.body), `"field":"`+c.field+`"`) {
				t.Errorf("recover with %s: %d %s, want 422 naming %s", c.body, res.status, res.body, c.field)
			}
		}

		// Another tenant finds none of it, and queues nothing.
		for _, c := range []struct{ method, path, body string }{
			{"GET", base, ""},
			{"POST", "/v1/webhooks/" + hook + "/recover", body},
			{"GET", "/v1/deliveries/" + d2, ""},
			{"POST", "/v1/deliveries/" + d2 + "/redeliver", ""},
		} {
			res := be.call(t, "tenant-b", "user-9", c.method, c.path, []byte(c.body), jsonHeader)
			if res.status != http.StatusNotFound {
				t.Errorf("tenant-b %s %s: %d %s, want 404", c.method, c.path, res.status, res.body)
			}
		}
		if jobs := be.jobs(t); len(jobs) != 0 {
			t.Errorf("tenant-b queued %+v", jobs)
		}
	})
}

// TestRedeliveryOfAnUnrecordedPayloadIsAConflict: a delivery whose payload was too large to
// log cannot be sent again, and the API says so instead of queueing an empty job.
func TestRedeliveryOfAnUnrecordedPayloadIsAConflict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		hook := create(t, be, "tenant-a", "stage-big", "https://8.8.8.8/big")["id"].(string)
		a := delivery.Attempt{
			TenantID: "tenant-a", WebhookID: hook, DeliveryID: "d-unrecorded", EventType: "task_completed_event", Number: 1,
			At: time.Now().UTC().Truncate(time.Millisecond), StatusCode: 500, ErrorClass: delivery.ClassHTTP5xx,
			Outcome: delivery.OutcomeDeadLettered,
		}
		if err := be.attempts.RecordAttempts(context.Background(), []delivery.Attempt{a}); err != nil {
			t.Fatal(err)
		}
		res := be.call(t, "tenant-a", "user-1", "POST", "/v1/deliveries/d-unrecorded/redeliver", nil, nil)
		if res.status != http.StatusConflict || !strings.Contains(string(res.body), "payload-not-recorded") {
			t.Fatalf("redeliver: %d %s", res.status, res.body)
		}
		if got := be.call(t, "tenant-a", "user-1", "GET", "/v1/deliveries/d-unrecorded", nil, nil); got.status != 200 || bytes.Contains(got.body, []byte(`"payload"`)) {
			t.Fatalf("get: %d %s", got.status, got.body)
		}
		if jobs := be.jobs(t); len(jobs) != 0 {
			t.Fatalf("queued %+v", jobs)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}
