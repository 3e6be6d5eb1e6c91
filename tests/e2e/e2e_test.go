// Package e2e_test drives Herald end to end on the local AWS stand-ins: a sample event goes
// through the router handler into the real SQS stand-in, a poller plays Lambda's event source
// mapping, the delivery handler posts to a local receiver, and the receiver verifies each
// delivery with the Standard Webhooks reference library.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/signing"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// assertDocumentedBody compares a delivered body with the documented example: the same keys
// in the same order with the same values, the uid aside (it is per delivery), which must be the
// webhook-id header and a UUID.
func assertDocumentedBody(t *testing.T, got received, example string) {
	t.Helper()
	if got.verifyErr != nil {
		t.Fatalf("reference verifier rejected the delivery: %v", got.verifyErr)
	}
	var doc map[string]any
	if err := json.Unmarshal(got.body, &doc); err != nil {
		t.Fatalf("body is not JSON: %s", got.body)
	}
	uid, _ := doc["uid"].(string)
	if _, err := uuid.Parse(uid); err != nil || uid != got.header.Get(signing.HeaderID) {
		t.Fatalf("uid %q: want a UUID equal to webhook-id %q", uid, got.header.Get(signing.HeaderID))
	}
	raw, err := samples.Read(example)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	exampleUID := want["uid"].(string)
	var compact bytes.Buffer
	if err := json.Compact(&compact, bytes.Replace(raw, []byte(exampleUID), []byte(uid), 1)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.body, compact.Bytes()) {
		t.Fatalf("delivered body differs from %s\n got: %s\nwant: %s", example, got.body, compact.Bytes())
	}
	for _, h := range []string{"Content-Type", "User-Agent", signing.HeaderTimestamp, signing.HeaderSignature} {
		if got.header.Get(h) == "" {
			t.Fatalf("header %s missing", h)
		}
	}
}

func TestStageWebhooksDeliverTheDocumentedPayloads(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true})
	annotate := newReceiver(t, nil)
	complete := newReceiver(t, nil)
	annotate.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, annotate.url()).Secrets[0]
	complete.secret = w.addWebhook(t, "wh_complete", sampleCompleteStage, stagehooks.StageComplete, complete.url()).Secrets[0]

	for _, s := range []string{"router/task-submitted.json", "router/task-completed.json", "router/task-reviewed.json"} {
		if err := w.publish(t, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	w.pollUntil(t, 20*time.Second, func() bool { return annotate.count() >= 1 && complete.count() >= 1 })

	for _, got := range []received{annotate.requests()[0], complete.requests()[0]} {
		t.Logf("receiver got, signature verified by the Standard Webhooks library:\n  webhook-id: %s\n  webhook-timestamp: %s\n  webhook-signature: %s\n  body: %s",
			got.header.Get(signing.HeaderID), got.header.Get(signing.HeaderTimestamp), got.header.Get(signing.HeaderSignature), got.body)
	}
	assertDocumentedBody(t, annotate.requests()[0], "payloads/task_submitted_event.json")
	assertDocumentedBody(t, complete.requests()[0], "payloads/task_completed_event.json")

	id := complete.requests()[0].header.Get(signing.HeaderID)
	attempts, err := w.attempts.AttemptsOfDelivery(context.Background(), sampleTenant, id)
	if err != nil || len(attempts) != 1 {
		t.Fatalf("attempts of %s: %v, %v", id, attempts, err)
	}
	if a := attempts[0]; a.StatusCode != 200 || a.Outcome != delivery.OutcomeSucceeded || a.Number != 1 || a.WebhookID != "wh_complete" {
		t.Fatalf("recorded attempt %+v", a)
	}
}

// EventBridge delivers at least once: the same event twice must reach the receiver with the
// same webhook-id both times, so the receiver can drop the duplicate.
func TestRedeliveredEventKeepsItsWebhookID(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true})
	r := newReceiver(t, nil)
	r.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url()).Secrets[0]
	for range 2 {
		if err := w.publish(t, "router/task-submitted.json"); err != nil {
			t.Fatal(err)
		}
	}
	w.pollUntil(t, 20*time.Second, func() bool { return r.count() >= 2 })
	got := r.requests()
	if a, b := got[0].header.Get(signing.HeaderID), got[1].header.Get(signing.HeaderID); a != b {
		t.Fatalf("webhook-id %s then %s for the same event", a, b)
	}
}

func TestReceiverDownThenUpGetsTheDeliveryWithTheSameID(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{schedule: "1s,1s,1s", allowLoopback: true})
	r := newReceiver(t, nil)
	r.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url()).Secrets[0]
	r.stop()

	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	var deliveryID string
	w.pollUntil(t, 20*time.Second, func() bool {
		return w.counts.Get(telemetry.Attempts, string(delivery.ClassConnectionRefused)) >= 1
	})
	r.start(t)
	w.pollUntil(t, 20*time.Second, func() bool { return r.count() >= 1 })

	got := r.requests()
	if got[0].verifyErr != nil {
		t.Fatal(got[0].verifyErr)
	}
	deliveryID = got[0].header.Get(signing.HeaderID)
	attempts, err := w.attempts.AttemptsOfDelivery(context.Background(), sampleTenant, deliveryID)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) < 2 {
		t.Fatalf("attempts %+v: want the refused one and the delivered one under the same id", attempts)
	}
	first, last := attempts[0], attempts[len(attempts)-1]
	if first.ErrorClass != delivery.ClassConnectionRefused || first.Outcome != delivery.OutcomeRetrying || first.Number != 1 {
		t.Fatalf("first attempt %+v", first)
	}
	if last.StatusCode != 200 || last.Outcome != delivery.OutcomeSucceeded || last.Number != len(attempts) {
		t.Fatalf("last attempt %+v", last)
	}
}

func TestGoneDisablesTheWebhook(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true})
	r := newReceiver(t, func(int) (int, http.Header) { return http.StatusGone, nil })
	r.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url()).Secrets[0]
	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	w.pollUntil(t, 20*time.Second, func() bool { return r.count() >= 1 && w.counts.Total(telemetry.Attempts) >= 1 })

	wh, err := w.store.GetWebhook(context.Background(), sampleTenant, "wh_annotate")
	if err != nil || wh.Enabled {
		t.Fatalf("after 410: %+v, %v", wh, err)
	}
	// The next transition finds the webhook disabled and queues nothing for it.
	before := w.counts.Total(telemetry.JobsEnqueued)
	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	if after := w.counts.Total(telemetry.JobsEnqueued); after != before {
		t.Fatalf("a disabled webhook got %d new jobs", after-before)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	// The schedule would retry after about a second; the receiver asks for three.
	w := newWorld(t, worldOptions{schedule: "1s,1s", allowLoopback: true})
	r := newReceiver(t, func(n int) (int, http.Header) {
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3"}}
		}
		return http.StatusOK, nil
	})
	r.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url()).Secrets[0]
	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	w.pollUntil(t, 20*time.Second, func() bool { return r.count() >= 2 })
	got := r.requests()
	if gap := got[1].at.Sub(got[0].at); gap < 2500*time.Millisecond {
		t.Fatalf("retried after %s despite Retry-After: 3", gap)
	}
	if got[0].header.Get(signing.HeaderID) != got[1].header.Get(signing.HeaderID) {
		t.Fatal("retry changed the webhook-id")
	}
}

func TestLastAttemptGoesToTheDeadLetterQueue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{schedule: "1s", allowLoopback: true})
	r := newReceiver(t, func(int) (int, http.Header) { return http.StatusInternalServerError, nil })
	r.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url()).Secrets[0]
	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	w.pollUntil(t, 20*time.Second, func() bool { return w.counts.Total(telemetry.DeadLettered) >= 1 })

	if r.count() != 2 {
		t.Fatalf("receiver saw %d attempts, want 2 (schedule of one retry)", r.count())
	}
	ctx := context.Background()
	dead := w.backend.DeadLetters(ctx, t, 1)
	if len(dead) != 1 {
		t.Fatalf("DLQ holds %d messages, want 1", len(dead))
	}
	attrs := dead[0].MessageAttributes
	if aws.ToString(attrs[sqsqueue.AttrReason].StringValue) != delivery.ReasonAttemptsExhausted ||
		aws.ToString(attrs[sqsqueue.AttrErrorClass].StringValue) != string(delivery.ClassHTTP5xx) {
		t.Fatalf("dead letter attributes %v", attrs)
	}
	job, err := delivery.DecodeJob([]byte(aws.ToString(dead[0].Body)))
	if err != nil || job.ID != r.requests()[0].header.Get(signing.HeaderID) {
		t.Fatalf("dead-lettered job %+v, %v", job, err)
	}
	// Nothing is left on the delivery queue.
	out, err := w.backend.Admin().SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.backend.QueueURL), WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 0 {
		t.Fatalf("delivery queue still holds %d messages (%v)", len(out.Messages), err)
	}
	attempts, _ := w.attempts.AttemptsOfDelivery(ctx, sampleTenant, job.ID)
	if len(attempts) != 2 || attempts[1].Outcome != delivery.OutcomeDeadLettered {
		t.Fatalf("attempts %+v", attempts)
	}
}

func TestInvalidEventsAreRejectedAndCounted(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true})
	r := newReceiver(t, nil)
	r.secret = w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url()).Secrets[0]

	raw, err := samples.Read("rejected/expected-reasons.json")
	if err != nil {
		t.Fatal(err)
	}
	var reasons map[string]string
	if err := json.Unmarshal(raw, &reasons); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	kept := 0 // rejected events that name a valid tenant: kept for its Events page
	for file, reason := range reasons {
		if detail, err := samples.Detail("rejected/" + file); err == nil {
			if tenant, _, _ := inbound.Subject(detail); tenant != "" {
				kept++
			}
		}
		// A rejected event returns nil: EventBridge must not retry what can never succeed.
		if err := w.publish(t, "rejected/"+file); err != nil {
			t.Fatalf("%s: handler returned %v, want nil", file, err)
		}
		want[reason]++
	}
	if err := w.publish(t, "unmatched/other-detail-type.json"); err != nil {
		t.Fatal(err)
	}
	want["wrong_detail_type"]++
	kept++
	for reason, n := range want {
		if got := w.counts.Get(telemetry.EventsRejected, reason); got != n {
			t.Errorf("rejections for %s = %d, want %d", reason, got, n)
		}
	}
	if got := w.counts.Total(telemetry.JobsEnqueued); got != 0 {
		t.Fatalf("invalid events enqueued %d jobs", got)
	}
	// Their only cost is the record of each that names a tenant: one PutItem, no lookup.
	if got := w.routerRequests.Total(); got != kept || !strings.Contains(w.routerRequests.String(), fmt.Sprintf("DynamoDB.PutItem=%d", kept)) {
		t.Fatalf("invalid events cost %d AWS requests (%s), want %d PutItems of their records", got, w.routerRequests, kept)
	}
}

func TestPrivateAddressesAreRefusedAtDialTime(t *testing.T) {
	t.Parallel()
	// allowLoopback is off, as in production: the loopback receiver must never be reached.
	w := newWorld(t, worldOptions{schedule: "1s"})
	r := newReceiver(t, nil)
	targets := map[string]string{
		"wh_loopback": r.url(),
		"wh_metadata": "http://169.254.169.254/latest/meta-data/iam/",
		"wh_private":  "http://10.0.0.7/hook",
		"wh_mapped":   "http://[::ffff:127.0.0.1]:" + r.addr[len("127.0.0.1:"):] + "/hook",
		"wh_byname":   "http://localhost:" + r.addr[len("127.0.0.1:"):] + "/hook",
	}
	for id, url := range targets {
		w.addWebhook(t, id, sampleAnnotateStage, stagehooks.StageAnnotate, url)
	}
	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	w.pollUntil(t, 20*time.Second, func() bool {
		return w.counts.Get(telemetry.Attempts, string(delivery.ClassBlockedAddress)) >= int64(len(targets))
	})
	if r.count() != 0 {
		t.Fatalf("a blocked address reached the receiver %d times", r.count())
	}
	if other := w.counts.Total(telemetry.Attempts) - w.counts.Get(telemetry.Attempts, string(delivery.ClassBlockedAddress)); other != 0 {
		t.Fatalf("%d attempts were not classed blocked_address", other)
	}
}

// TestAWSRequestsPerDelivery counts the AWS requests Herald's own code sends per delivered
// webhook, at fan-out 1 and 10, with the production cache TTL. Lambda's own SQS polling is
// billed too but is not Herald's code; it is printed separately.
func TestAWSRequestsPerDelivery(t *testing.T) {
	t.Parallel()
	const events = 30
	for _, fanOut := range []int{1, 10} {
		t.Run(fmt.Sprintf("fan-out %d", fanOut), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOptions{allowLoopback: true, cacheTTL: 10 * time.Second})
			r := newReceiver(t, nil)
			for i := range fanOut {
				// One receiver behind ten webhooks: a stage takes a URL once, so each has its own query.
				r.secret = w.addWebhook(t, fmt.Sprintf("wh_%02d", i), sampleAnnotateStage, stagehooks.StageAnnotate, fmt.Sprintf("%s?hook=%d", r.url(), i)).Secrets[0]
			}
			for i := range events {
				if err := w.publishTransition(t, i); err != nil {
					t.Fatal(err)
				}
			}
			w.pollUntil(t, 60*time.Second, func() bool { return r.count() >= events*fanOut })
			deliveries := float64(events * fanOut)
			own := float64(w.routerRequests.Total() + w.deliveryRequest.Total())
			withPoller := own + float64(w.pollerRequests.Total())
			t.Logf("fan-out %d: %d deliveries; Herald's requests per delivery %.3f (router: %s; delivery: %s); with the event-source poller %.3f (poller: %s)",
				fanOut, events*fanOut, own/deliveries, w.routerRequests, w.deliveryRequest, withPoller/deliveries, w.pollerRequests)
			limit := map[int]float64{1: 1.3, 10: 0.35}[fanOut]
			if own/deliveries > limit {
				t.Errorf("%.3f AWS requests per delivery at fan-out %d, target ≤ %.2f", own/deliveries, fanOut, limit)
			}
		})
	}
}

// publishTransition publishes the submitted sample as the i-th distinct transition (a later
// occurred_at), so each one is a new delivery rather than a duplicate.
func (w *world) publishTransition(t *testing.T, i int) error {
	t.Helper()
	return w.publishNumbered(t, "router/task-submitted.json", "2024-03-25T15:18:55.406529+00:00", i)
}

// publishCompletion hands the router a task completing, the completed sample with i in its
// timestamp's microseconds, so that each i is a distinct transition.
func (w *world) publishCompletion(t *testing.T, i int) error {
	t.Helper()
	return w.publishNumbered(t, "router/task-completed.json", "2024-03-25T15:13:40.456441+00:00", i)
}

// publishNumbered publishes a sample with its timestamp stamp's microseconds replaced by i.
func (w *world) publishNumbered(t *testing.T, sample, stamp string, i int) error {
	t.Helper()
	raw, err := samples.Read(sample)
	if err != nil {
		t.Fatal(err)
	}
	numbered := fmt.Sprintf("%s.%06d%s", stamp[:strings.Index(stamp, ".")], i, stamp[strings.Index(stamp, "+"):])
	return w.publishRaw(t, bytes.Replace(raw, []byte(stamp), []byte(numbered), 1))
}

// Tenant B registers a webhook on tenant A's project hash and stage uuid (the platform's
// identifiers, which B can learn or guess) and waits: A's events must reach only A's receiver,
// and B's only B's, through the real router, SQS stand-in and delivery function.
func TestEventsReachOnlyTheirOwnTenantsWebhooks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true})
	owner, intruder := newReceiver(t, nil), newReceiver(t, nil)
	owner.secret = w.addTenantWebhook(t, sampleTenant, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, owner.url()).Secrets[0]
	// The same webhook id, project, stage and URL path shape in the other tenant.
	intruder.secret = w.addTenantWebhook(t, rivalTenant, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, intruder.url()).Secrets[0]

	raw, err := samples.Read("router/task-submitted.json")
	if err != nil {
		t.Fatal(err)
	}
	rivalEvent := []byte(asRival(t, string(raw)))
	if err := w.publishRaw(t, raw); err != nil {
		t.Fatal(err)
	}
	if err := w.publishRaw(t, rivalEvent); err != nil {
		t.Fatal(err)
	}
	w.pollUntil(t, 20*time.Second, func() bool { return owner.count() >= 1 && intruder.count() >= 1 })
	// Drain anything else that could still be queued before counting.
	for range 3 {
		if _, err := w.poller.PollOnce(context.Background()); err != nil {
			t.Logf("poll: %v", err)
		}
	}
	if got := w.counts.Total(telemetry.JobsEnqueued); got != 2 {
		t.Fatalf("two events of two tenants enqueued %d jobs, want 2", got)
	}
	assertEachGotItsOwn(t, owner, intruder)
}

// A stage whose only webhook is disabled enqueues nothing and sends no SQS request.
func TestNoEnabledWebhookEnqueuesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{allowLoopback: true})
	r := newReceiver(t, nil)
	wh := w.addWebhook(t, "wh_annotate", sampleAnnotateStage, stagehooks.StageAnnotate, r.url())
	if err := w.store.DisableWebhook(context.Background(), delivery.EndpointRef{TenantID: wh.TenantID, WebhookID: wh.ID}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := w.publish(t, "router/task-submitted.json"); err != nil {
		t.Fatal(err)
	}
	if got := w.counts.Total(telemetry.JobsEnqueued); got != 0 {
		t.Fatalf("%d jobs enqueued for a disabled webhook", got)
	}
	if strings.Contains(w.routerRequests.String(), "SQS") {
		t.Fatalf("router requests %s include SQS", w.routerRequests)
	}
}
