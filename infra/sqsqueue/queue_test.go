package sqsqueue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/tests/awsfixture"
)

func job(i int) delivery.Job {
	return delivery.Job{ID: fmt.Sprintf("d-%02d", i), TenantID: "t", WebhookID: "w", EventType: "e", Payload: json.RawMessage(`{"n":` + strconv.Itoa(i) + `}`)}
}

func receive(ctx context.Context, t *testing.T, client *sqs.Client, url string, want int, within time.Duration) []types.Message {
	t.Helper()
	var got []types.Message
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		got = append(got, out.Messages...)
	}
	return got
}

func TestEnqueueSendsEveryJobInBatchesOfTen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 30 * time.Second})
	counter := awsfixture.NewRequestCounter()
	q := sqsqueue.New(b.Clients(counter).SQS, b.QueueURL, b.DLQURL)
	var jobs []delivery.Job
	for i := range 25 {
		jobs = append(jobs, job(i))
	}
	if err := q.Enqueue(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	if counter.Total() != 3 {
		t.Fatalf("25 jobs took %d requests (%s), want 3 batches", counter.Total(), counter)
	}
	msgs := receive(ctx, t, b.Admin().SQS, b.QueueURL, 25, 10*time.Second)
	seen := map[string]bool{}
	for _, m := range msgs {
		j, err := delivery.DecodeJob([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatal(err)
		}
		seen[j.ID] = true
	}
	if len(seen) != 25 {
		t.Fatalf("received %d distinct jobs, want 25", len(seen))
	}
}

func TestRetryLaterHidesTheMessageForItsWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 30 * time.Second})
	q := sqsqueue.New(b.Admin().SQS, b.QueueURL, b.DLQURL)
	if err := q.Enqueue(ctx, []delivery.Job{job(1)}); err != nil {
		t.Fatal(err)
	}
	first := receive(ctx, t, b.Admin().SQS, b.QueueURL, 1, 5*time.Second)
	if len(first) != 1 {
		t.Fatal("job not received")
	}
	m := first[0]
	failed, err := q.RetryLater(ctx, []delivery.Retry{{
		Message: delivery.Message{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle)},
		Wait:    2 * time.Second,
	}})
	if err != nil || len(failed) != 0 {
		t.Fatalf("RetryLater: %v, failed %v", err, failed)
	}
	start := time.Now()
	again := receive(ctx, t, b.Admin().SQS, b.QueueURL, 1, 10*time.Second)
	if len(again) != 1 {
		t.Fatal("rescheduled job never came back")
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Fatalf("job came back after %s, want about 2s", waited)
	}
	if rc := again[0].Attributes["ApproximateReceiveCount"]; rc != "2" {
		t.Fatalf("receive count %q, want 2", rc)
	}

	stale, err := q.RetryLater(ctx, []delivery.Retry{{Message: delivery.Message{ID: "m-stale", ReceiptHandle: "not-a-receipt"}, Wait: time.Second}})
	if err == nil || len(stale) != 1 || stale[0] != "m-stale" {
		t.Fatalf("bad receipt: failed %v, err %v; want m-stale reported", stale, err)
	}
}

func TestDeadLetterKeepsBodyAndReason(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	q := sqsqueue.New(b.Admin().SQS, b.QueueURL, b.DLQURL)
	body, _ := json.Marshal(job(7))
	if err := q.DeadLetter(ctx, body, delivery.ReasonAttemptsExhausted, delivery.ClassTimeout); err != nil {
		t.Fatal(err)
	}
	got := b.DeadLetters(ctx, t, 1)
	if len(got) != 1 || aws.ToString(got[0].Body) != string(body) {
		t.Fatalf("DLQ holds %v", got)
	}
	attrs := got[0].MessageAttributes
	if aws.ToString(attrs[sqsqueue.AttrReason].StringValue) != delivery.ReasonAttemptsExhausted ||
		aws.ToString(attrs[sqsqueue.AttrErrorClass].StringValue) != string(delivery.ClassTimeout) {
		t.Fatalf("attributes %v", attrs)
	}
}

func TestResendDelaysANewCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	q := sqsqueue.New(b.Admin().SQS, b.QueueURL, b.DLQURL)
	j := job(3)
	j.Attempts = 4
	start := time.Now()
	if err := q.Resend(ctx, []delivery.Resend{{Job: j, Delay: 2 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	got := receive(ctx, t, b.Admin().SQS, b.QueueURL, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatal("resent job never arrived")
	}
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Fatalf("resent job visible after %s, want about 2s", waited)
	}
	back, err := delivery.DecodeJob([]byte(aws.ToString(got[0].Body)))
	if err != nil || back.ID != j.ID || back.Attempts != 4 {
		t.Fatalf("resent job %+v, %v", back, err)
	}
}

// Large jobs (a digest_event of many projects) are batched within SQS's 1 MiB a batch, and a
// job SQS could never take is refused before anything is sent.
func TestEnqueueKeepsBatchesWithinSQSSizeLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{VisibilityTimeout: 30 * time.Second})
	counter := awsfixture.NewRequestCounter()
	q := sqsqueue.New(b.Clients(counter).SQS, b.QueueURL, b.DLQURL)
	big := func(i, kib int) delivery.Job {
		j := job(i)
		j.Payload = json.RawMessage(`{"pad":"` + strings.Repeat("x", kib<<10) + `"}`)
		return j
	}
	// Five jobs of 300 KiB: three fit in a batch of 1 MiB, so two batches, not one.
	var jobs []delivery.Job
	for i := range 5 {
		jobs = append(jobs, big(i, 300))
	}
	if err := q.Enqueue(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	if counter.Total() != 2 {
		t.Fatalf("5 jobs of 300 KiB took %d requests (%s), want 2 batches", counter.Total(), counter)
	}
	if got := receive(ctx, t, b.Admin().SQS, b.QueueURL, 5, 10*time.Second); len(got) != 5 {
		t.Fatalf("received %d jobs, want 5", len(got))
	}
	if err := q.Enqueue(ctx, []delivery.Job{big(9, 1100)}); err == nil || !strings.Contains(err.Error(), "over SQS's message limit") {
		t.Fatalf("a 1.1 MiB job: %v", err)
	}
}
