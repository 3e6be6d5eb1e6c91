package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/infra/lambdafn/digestfn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/digest/dispatch"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/contract"
	"github.com/heraldhq/herald/tests/standin"
)

// BenchmarkDigest100Projects200Users is one digest run on the AWS adapters over the
// stand-ins: a notification of 100 projects, each with 200 annotators who submitted a label
// and had it reviewed by one of 10 reviewers in the period, sent to two addresses (SES), a
// Slack channel and a webhook (SQS). It reports the run's time, its peak live heap and the
// AWS requests it made, by operation in the log. Run with -benchtime 1x.
func BenchmarkDigest100Projects200Users(b *testing.B) {
	ctx := context.Background()
	be := awsfixture.New(b, awsfixture.Options{})
	admin := be.Admin().DynamoDB
	due := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	var projects []string
	var acts []digest.Activity
	for p := range 100 {
		project := fmt.Sprintf("proj-%03d", p)
		projects = append(projects, project)
		for u := range 200 {
			annotator := fmt.Sprintf("annotator%03d@example.com", u)
			at := due.Add(-time.Duration(p*200+u) * time.Second)
			acts = append(acts,
				digest.Activity{ID: fmt.Sprintf("s-%d-%d", p, u), TenantID: "acme", ProjectHash: project, At: at, Kind: digest.KindLabelSubmitted,
					User: annotator, Edit: u%3 == 0, TimeSpentMS: int64(1000 + u)},
				digest.Activity{ID: fmt.Sprintf("r-%d-%d", p, u), TenantID: "acme", ProjectHash: project, At: at.Add(time.Millisecond), Kind: digest.KindLabelReviewed,
					User: fmt.Sprintf("reviewer%02d@example.com", u%10), Annotator: annotator, Approved: u%4 != 0, TimeSpentMS: 300})
		}
	}
	if err := dynamo.NewActivity(admin, be.ActivityTable).RecordActivity(ctx, acts); err != nil {
		b.Fatal(err)
	}
	n := contract.NewNotification(b, "acme", "ntf_bench", "alice", "Daily QA", contract.NewNotificationWebhook(b, "nwh_bench", "https://hooks.example.com/digest"))
	n.Projects = projects
	n.Channels.Emails = []string{standin.UniqueName("lead") + "@example.com", standin.UniqueName("qa") + "@example.com"}
	n.Channels.SlackChannels = []string{"slk_bench"}
	n.Triggers = notifications.Triggers{Digests: []notifications.Digest{{TimesOfDay: []string{due.Format("15:04")}, TimeZone: "UTC"}}}
	if err := dynamo.NewWebhookStore(admin, be.WebhooksTable).CreateNotification(ctx, n); err != nil {
		b.Fatal(err)
	}
	schedules := dynamo.NewSchedules(admin, be.WebhooksTable)

	for b.Loop() {
		plan, err := digest.Plan(n, digest.Schedule{}, due.Add(-time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if err := schedules.PutSchedule(ctx, plan); err != nil {
			b.Fatal(err)
		}
		counter := awsfixture.NewRequestCounter()
		clients := be.Clients(counter)
		d := &dispatch.Dispatcher{
			Schedules: dynamo.NewSchedules(clients.DynamoDB, be.WebhooksTable), Notifications: dynamo.NewWebhookStore(clients.DynamoDB, be.WebhooksTable),
			Activity: dynamo.NewActivity(clients.DynamoDB, be.ActivityTable), Queue: sqsqueue.New(clients.SQS, be.QueueURL, be.DLQURL),
			Mail:   sesmail.New(standin.SESv2(b, func(o *sesv2.Options) { o.APIOptions = append(o.APIOptions, counter.APIOption()) }), sesmail.Options{}),
			Claims: idempotency.PostClaims{Store: dynamo.NewIdempotency(clients.DynamoDB, be.AttemptsTable, digestfn.ClaimLease).KeepDoneFor(digestfn.SentMemory), Kind: "digest"},
			From:   "noreply@herald.example", Links: mailbatch.Links{BaseURL: "https://api.herald.example", Key: []byte(strings.Repeat("k", 32))},
			Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return due.Add(30 * time.Second) },
		}
		runtime.GC()
		watch := watchHeap()
		start := time.Now()
		rep, err := d.Run(ctx)
		elapsed := time.Since(start)
		peak := watch.end()
		if err != nil || rep.Sent != 1 {
			b.Fatalf("report %+v, %v", rep, err)
		}
		b.ReportMetric(float64(elapsed.Milliseconds()), "ms/digest")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(counter.Total()), "aws-requests")
		b.Logf("AWS requests: %s", counter)
	}
}
