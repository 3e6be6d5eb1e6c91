// Package lambdarie_test proves the Lambda wiring itself: each function is built exactly as
// SAM's go1.x builder builds it (CGO off, lambda.norpc, a binary named bootstrap), started under
// AWS's own Runtime Interface Emulator, and invoked with its sample event from events/samples.
package lambdarie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/standin"
)

// buildBootstrap builds a function for this machine as it is deployed, stripped (the emulator
// runs it natively here; tests/samtemplate builds the same packages for linux/arm64).
func buildBootstrap(t *testing.T, function string) string {
	t.Helper()
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s", "-o", out, "./functions/"+function)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", function, err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// emulator is one function running under aws-lambda-rie.
type emulator struct {
	addr string
	logs *bytes.Buffer
}

func startEmulator(t *testing.T, bootstrap string, env map[string]string) *emulator {
	t.Helper()
	rie := standin.RIE(t)
	e := &emulator{addr: freePort(t), logs: &bytes.Buffer{}}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", e.addr, "--runtime-api-address", freePort(t), bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	w := &lockedWriter{buf: e.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("emulator output:\n%s", w.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", e.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator never listened on %s:\n%s", e.addr, w.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// invoke sends one event the way Lambda does and returns the function's response. The
// emulator reports a handler error as a 200 whose body holds errorType/errorMessage.
func (e *emulator) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	url := "http://" + e.addr + "/2015-03-31/functions/function/invocations"
	resp, err := http.Post(url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errorType"`)) {
		t.Fatalf("invocation failed: %d %s", resp.StatusCode, body)
	}
	return body
}

type lockedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := samples.Read(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRouterBootstrapAnswersItsSampleEvents(t *testing.T) {
	t.Parallel()
	b := awsfixture.New(t, awsfixture.Options{})
	store := dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
	wh := contract.NewWebhook(t, "acme", "wh_demo_annotate", "751a3a3e-46b6-4aad-b0b8-19b169f91266",
		"a1b2c3d4-0000-4000-8000-00000000a001", stagehooks.StageAnnotate, "https://hooks.example.com/herald")
	if err := store.CreateWebhook(context.Background(), wh); err != nil {
		t.Fatal(err)
	}
	e := startEmulator(t, buildBootstrap(t, "router"), b.Env(""))

	for _, name := range []string{"router/task-submitted.json", "rejected/unknown-stage-type.json"} {
		if got := e.invoke(t, sample(t, name)); string(got) != "null" {
			t.Fatalf("%s: response %s, want null", name, got)
		}
	}
	// Only the valid event queued a job; the rejected one was logged and counted.
	out, err := b.Admin().SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(b.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.Contains(aws.ToString(out.Messages[0].Body), `"webhook_id":"wh_demo_annotate"`) {
		t.Fatalf("queue holds %d messages, want the one job for wh_demo_annotate", len(out.Messages))
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"reason":"unknown_stage_type"`) || !strings.Contains(logs, `"EventsRejected":1`) {
		t.Fatalf("rejection not logged and counted as an embedded metric:\n%s", logs)
	}
}

func TestDeliveryBootstrapAnswersItsSampleEvent(t *testing.T) {
	t.Parallel()
	b := awsfixture.New(t, awsfixture.Options{})
	var got struct {
		sync.Mutex
		body   []byte
		header http.Header
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		defer got.Unlock()
		got.body, _ = io.ReadAll(r.Body)
		got.header = r.Header.Clone()
	}))
	t.Cleanup(receiver.Close)
	wh := contract.NewWebhook(t, "acme", "wh_demo_annotate", "751a3a3e-46b6-4aad-b0b8-19b169f91266",
		"a1b2c3d4-0000-4000-8000-00000000a001", stagehooks.StageAnnotate, receiver.URL+"/hook")
	if err := dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable).CreateWebhook(context.Background(), wh); err != nil {
		t.Fatal(err)
	}
	e := startEmulator(t, buildBootstrap(t, "delivery"), b.Env(""))

	resp := e.invoke(t, sample(t, "delivery/delivery-job.json"))
	var parsed struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(resp, &parsed); err != nil || parsed.BatchItemFailures == nil || len(parsed.BatchItemFailures) != 0 {
		t.Fatalf("response %s: want an empty batchItemFailures list (%v)", resp, err)
	}
	got.Lock()
	defer got.Unlock()
	var want bytes.Buffer
	if err := json.Compact(&want, sample(t, "payloads/task_submitted_event.json")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.body, want.Bytes()) {
		t.Fatalf("receiver got %s\nwant %s", got.body, want.Bytes())
	}
	verifier, _ := standardwebhooks.NewWebhook(wh.Secrets[0])
	if err := verifier.Verify(got.body, got.header); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if id := got.header.Get("webhook-id"); id != "687457ce-6489-4891-b7c8-544477d99e41" {
		t.Fatalf("webhook-id %q, want the sample job's id", id)
	}
}

func TestAPIBootstrapAnswersItsSampleEvents(t *testing.T) {
	t.Parallel()
	b := awsfixture.New(t, awsfixture.Options{})
	env := b.Env("")
	env["HERALD_JWT_TENANT_CLAIM"] = "org_id"
	e := startEmulator(t, buildBootstrap(t, "api"), env)

	var res struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	for _, c := range []struct {
		sample string
		status int
		want   string
	}{
		{"api/get-openapi.json", 200, `"openapi": "3.1.0"`},
		{"api/create-webhook.json", 201, `"secret":"whsec_`},
		{"api/list-webhooks.json", 200, `"stage_type":"annotate"`},
	} {
		if err := json.Unmarshal(e.invoke(t, sample(t, c.sample)), &res); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != c.status || !strings.Contains(res.Body, c.want) {
			t.Fatalf("%s: %d %s, want %d containing %s", c.sample, res.StatusCode, res.Body, c.status, c.want)
		}
	}
	if strings.Contains(res.Body, "whsec_") {
		t.Fatal("the list shows a signing secret")
	}
}

func TestNotifyBootstrapAnswersItsSampleEvents(t *testing.T) {
	t.Parallel()
	b := awsfixture.New(t, awsfixture.Options{})
	ctx := context.Background()
	address := standin.UniqueName("qa") + "@example.com"
	n := contract.NewNotification(t, "acme", "ntf_rie", "alice", "Labels in",
		contract.NewNotificationWebhook(t, "nwh_rie", "https://hooks.example.com/labels"))
	n.Projects = []string{"751a3a3e-46b6-4aad-b0b8-19b169f91266"}
	n.Channels.Emails = []string{address}
	n.Triggers.Events = []notifications.EventType{notifications.LabelSubmitted}
	if err := dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable).CreateNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	env := b.Env("")
	env[lambdafn.EnvMailTable] = b.MailTable
	e := startEmulator(t, buildBootstrap(t, "notify"), env)

	// The same event twice (EventBridge delivers at least once) and one it must reject.
	// The sample happened in 2024; moved to now, its digest activity is not already past its
	// retention (DynamoDB Local's TTL deletes such items at once).
	recent := bytes.ReplaceAll(sample(t, "notify/label-submitted.json"), []byte("2024-03-25T15:18:50.112233+00:00"),
		[]byte(time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")))
	for i, event := range [][]byte{recent, recent, sample(t, "notify-rejected/submitted-bad-kind.json")} {
		if got := e.invoke(t, event); string(got) != "null" {
			t.Fatalf("event %d: response %s, want null", i, got)
		}
	}
	lines, err := dynamo.NewMailLines(b.Admin().DynamoDB, b.MailTable).PendingLines(ctx, mailbatch.Recipient{TenantID: "acme", Address: address}, 10)
	if err != nil || len(lines) != 1 || lines[0].NotificationID != "ntf_rie" || lines[0].EventType != "label_submitted" {
		t.Fatalf("email lines %+v, %v; want the one line of the event delivered twice", lines, err)
	}
	out, err := b.Admin().SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(b.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range out.Messages {
		var job struct {
			ID        string `json:"id"`
			WebhookID string `json:"webhook_id"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &job); err != nil || job.WebhookID != "nwh_rie" {
			t.Fatalf("queued %s (%v), want jobs for nwh_rie", aws.ToString(m.Body), err)
		}
		ids[job.ID] = true
	}
	if len(out.Messages) == 0 || len(ids) != 1 {
		t.Fatalf("%d jobs with ids %v: want the event's one job, the same id each time it came", len(out.Messages), ids)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"EventsRejected":1`) {
		t.Fatalf("the bad event was not counted as an embedded metric:\n%s", logs)
	}
	// The digests' activity: one record for the event that came twice.
	var recorded []digest.Activity
	for a, err := range dynamo.NewActivity(b.Admin().DynamoDB, b.ActivityTable).ProjectActivity(ctx, "acme", n.Projects[0], time.Time{}, time.Now().Add(time.Hour)) {
		if err != nil {
			t.Fatal(err)
		}
		recorded = append(recorded, a)
	}
	if len(recorded) != 1 || recorded[0].Kind != digest.KindLabelSubmitted || recorded[0].User != "annotator@example.com" {
		t.Fatalf("activity %+v, want the one label submission", recorded)
	}
}

func TestMailerBootstrapSendsThroughSES(t *testing.T) {
	t.Parallel()
	b := awsfixture.New(t, awsfixture.Options{})
	ctx := context.Background()
	address := standin.UniqueName("lead") + "@example.com"
	line := mailbatch.Line{
		ID: "line-1", TenantID: "acme", Recipient: address, NotificationID: "ntf_rie", NotificationTitle: "Labels in",
		ProjectHash: "751a3a3e-46b6-4aad-b0b8-19b169f91266", EventType: "label_submitted",
		Text: "annotator@example.com submitted a new label.", OccurredAt: time.Now().UTC(),
	}
	store := dynamo.NewMailLines(b.Admin().DynamoDB, b.MailTable)
	if _, err := store.AddLines(ctx, []mailbatch.Line{line}); err != nil {
		t.Fatal(err)
	}
	env := mailEnv(t, b)
	env[lambdafn.EnvMailTable] = b.MailTable
	env[lambdafn.EnvEmailInterval] = "rate(5 minutes)"
	e := startEmulator(t, buildBootstrap(t, "mailer"), env)

	// The schedule fires twice in one window: one email.
	for range 2 {
		e.invoke(t, sample(t, "scheduled/scheduled-event.json"))
	}
	got := sentTo(t, address)
	if len(got) != 1 || got[0].Subject != "Herald: 1 update from Labels in" || !strings.Contains(got[0].Body.Text, line.Text) {
		t.Fatalf("SES got %+v, want one email with the line", got)
	}
	if lines, err := store.PendingLines(ctx, mailbatch.Recipient{TenantID: "acme", Address: address}, 10); err != nil || len(lines) != 0 {
		t.Fatalf("after the run %d lines still pending (%v)", len(lines), err)
	}
}

func TestDigestBootstrapSendsThroughSESAndTheQueue(t *testing.T) {
	t.Parallel()
	b := awsfixture.New(t, awsfixture.Options{})
	ctx := context.Background()
	address := standin.UniqueName("digest") + "@example.com"
	n := contract.NewNotification(t, "acme", "ntf_digest_rie", "alice", "Daily QA",
		contract.NewNotificationWebhook(t, "nwh_digest_rie", "https://hooks.example.com/digest"))
	n.Projects = []string{"751a3a3e-46b6-4aad-b0b8-19b169f91266"}
	n.Channels.Emails = []string{address}
	n.Triggers = notifications.Triggers{Digests: []notifications.Digest{{TimesOfDay: []string{"09:00"}, TimeZone: "UTC"}}}
	store := dynamo.NewWebhookStore(b.Admin().DynamoDB, b.WebhooksTable)
	if err := store.CreateNotification(ctx, n); err != nil {
		t.Fatal(err)
	}
	// Scheduled two days ago: its 09:00 has come since.
	plan, err := digest.Plan(n, digest.Schedule{}, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	schedules := dynamo.NewSchedules(b.Admin().DynamoDB, b.WebhooksTable)
	if err := schedules.PutSchedule(ctx, plan); err != nil {
		t.Fatal(err)
	}
	env := mailEnv(t, b)
	e := startEmulator(t, buildBootstrap(t, "digest"), env)

	// Fired twice (a schedule that fires twice): one digest.
	for range 2 {
		e.invoke(t, sample(t, "scheduled/scheduled-event.json"))
	}
	got := sentTo(t, address)
	if len(got) != 1 || got[0].Subject != "Herald digest: Daily QA, no activity" || !strings.Contains(got[0].Body.HTML, "No activity") {
		t.Fatalf("SES got %+v, want one digest email", got)
	}
	out, err := b.Admin().SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(b.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.Contains(aws.ToString(out.Messages[0].Body), `"event_type":"digest_event"`) {
		t.Fatalf("queue holds %d messages, want the one digest_event job", len(out.Messages))
	}
	after, _, err := schedules.GetSchedule(ctx, "acme", n.ID)
	if err != nil || !after.NextDue.After(time.Now()) {
		t.Fatalf("schedule %+v, %v: want the next 09:00", after, err)
	}
}

// mailEnv is the backend's environment with what a function that emails needs, SES being the
// stand-in.
func mailEnv(t *testing.T, b *awsfixture.Backend) map[string]string {
	t.Helper()
	env := b.Env("")
	env[lambdafn.EnvMailFrom] = "noreply@herald.example"
	env[lambdafn.EnvUnsubscribeKey] = strings.Repeat("u", 32)
	env[lambdafn.EnvPublicAPIURL] = "https://api.herald.example"
	env["AWS_ENDPOINT_URL_SESV2"] = standin.Endpoint(t, "ses")
	return env
}

// sentTo reads back from the SES stand-in what was sent to address.
func sentTo(t *testing.T, address string) []standin.SentEmail {
	t.Helper()
	var got []standin.SentEmail
	for _, m := range standin.SentEmails(t) {
		if slices.Contains(m.Destination.To, address) {
			got = append(got, m)
		}
	}
	return got
}
