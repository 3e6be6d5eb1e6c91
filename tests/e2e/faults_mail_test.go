package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/mailerfn"
	"github.com/heraldhq/herald/infra/sesmail"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/telemetry"
	"github.com/heraldhq/herald/tests/awsfixture"
	"github.com/heraldhq/herald/tests/faultproxy"
	"github.com/heraldhq/herald/tests/standin"
)

// The mail half of the fault suite: the mailer runs window after window while 10 % of its
// DynamoDB requests and 20 % of its SES sends are throttled or fail with 500, some after SES
// sent the message. Every recipient gets every line; an email goes twice only when SES sent it
// and lost the answer (SES cannot deduplicate a send), never otherwise.
func TestMailerUnderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := awsfixture.New(t, awsfixture.Options{})
	seed := uint64(time.Now().UnixNano())
	b.InjectFaults(t, 0.10, seed)
	ses := faultproxy.Start(t, standin.Endpoint(t, "ses"), 0.20, seed+2, "TooManyRequestsException")
	counts := telemetry.NewMemory()
	mailer, err := mailerfn.Over(lambdafn.MailConfig{
		From: "Herald <noreply@herald.example>", Interval: time.Second, Rate: 50,
		UnsubscribeKey: "0123456789abcdef0123456789abcdef", PublicAPIURL: "https://api.herald.example",
	}, mailerfn.Ports{
		Store:  dynamo.NewMailLines(b.Clients(nil).DynamoDB, b.MailTable),
		Sender: sesmail.New(standin.SESv2(t, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(ses.URL) }), sesmail.Options{}),
	}, counts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	const recipients, linesEach = 20, 3
	var addrs []string
	var lines []mailbatch.Line
	for i := range recipients {
		addr := strings.ToLower(standin.UniqueName(fmt.Sprintf("r%02d", i))) + "@example.com"
		addrs = append(addrs, addr)
		for j := range linesEach {
			lines = append(lines, mailbatch.Line{
				ID: fmt.Sprintf("line-%d-%d", i, j), TenantID: sampleTenant, Recipient: addr, NotificationID: "ntf_faults",
				NotificationTitle: "Faults", ProjectHash: sampleProject, EventType: "task_submitted",
				Text: fmt.Sprintf("marker-%d-%d happened", i, j), OccurredAt: time.Now().UTC(),
			})
		}
	}
	if _, err := dynamo.NewMailLines(b.Admin().DynamoDB, b.MailTable).AddLines(ctx, lines); err != nil {
		t.Fatal(err)
	}

	missing := func() (n int) {
		for i, addr := range addrs {
			var text strings.Builder
			for _, m := range sentTo(t, addr) {
				text.WriteString(m.Text)
			}
			for j := range linesEach {
				if !strings.Contains(text.String(), fmt.Sprintf("marker-%d-%d ", i, j)) {
					n++
				}
			}
		}
		return n
	}
	// A run that fails between claiming a recipient and releasing it (every retry of the
	// release failed) leaves the recipient to the claim's lease: mailbatch.DefaultLease, 2 min.
	runs, deadline := 0, time.Now().Add(mailbatch.DefaultLease+time.Minute)
	for ; time.Now().Before(deadline) && missing() > 0; runs++ {
		_ = mailer.Handle(ctx, events.EventBridgeEvent{}) // a failed run is retried by the next window
		time.Sleep(time.Second)
	}
	if n := missing(); n > 0 {
		for i, addr := range addrs {
			if len(sentTo(t, addr)) == 0 {
				out, _ := b.Admin().DynamoDB.Query(ctx, &dynamodb.QueryInput{TableName: &b.MailTable, KeyConditionExpression: aws.String("pk = :pk"),
					ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":pk": &dbtypes.AttributeValueMemberS{Value: "T#" + sampleTenant + "#R#" + addr}}})
				var items []map[string]any
				_ = attributevalue.UnmarshalListOfMaps(out.Items, &items)
				t.Logf("recipient %d has no email; its items: %v", i, items)
			}
		}
		t.Fatalf("%d of %d lines never mailed after %d mailer runs, past the lease of a failed run", n, recipients*linesEach, runs)
	}
	emails, twice := 0, 0
	for _, addr := range addrs {
		got := len(sentTo(t, addr))
		emails += got
		if got > 1 {
			twice += got - 1
		}
	}
	sesFaults, sesCalls := ses.Counts()
	dynamoFaults, dynamoCalls := b.InjectedFaults().DynamoDB.Counts()
	t.Logf("mailer under faults: %d recipients x %d lines mailed in %d runs, %d emails (%d more than one per recipient); SES %v of %d sends, DynamoDB %v of %d requests",
		recipients, linesEach, runs, emails, twice, sesFaults, sesCalls, dynamoFaults, dynamoCalls)
	if twice > sesFaults[faultproxy.InternalAfter] {
		t.Fatalf("%d emails went twice, but SES lost only %d answers after sending", twice, sesFaults[faultproxy.InternalAfter])
	}
}
