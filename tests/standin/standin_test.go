package standin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/heraldhq/herald/tests/standin"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDynamoDBCreateUseDeleteTable(t *testing.T) {
	t.Parallel()
	db := standin.DynamoDB(t)
	c := ctx(t)
	table := standin.UniqueName("standin-test")

	_, err := db.CreateTable(c, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
		},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		}
	})

	_, err = db.PutItem(c, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]ddbtypes.AttributeValue{
			"pk":  &ddbtypes.AttributeValueMemberS{Value: "k1"},
			"val": &ddbtypes.AttributeValueMemberS{Value: "hello"},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	got, err := db.GetItem(c, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k1"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if v, ok := got.Item["val"].(*ddbtypes.AttributeValueMemberS); !ok || v.Value != "hello" {
		t.Fatalf("GetItem returned %#v, want val=hello", got.Item)
	}

	if _, err := db.DeleteTable(c, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatalf("DeleteTable: %v", err)
	}
	deleted = true
	_, err = db.DescribeTable(c, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *ddbtypes.ResourceNotFoundException
	if err == nil || !errors.As(err, &nf) {
		t.Fatalf("DescribeTable after DeleteTable: err = %v, want ResourceNotFoundException", err)
	}
}

func TestSQSSendReceiveDelete(t *testing.T) {
	t.Parallel()
	q := standin.SQS(t)
	c := ctx(t)
	name := standin.UniqueName("standin-test")

	created, err := q.CreateQueue(c, &sqs.CreateQueueInput{
		QueueName:  aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "2"},
	})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	url := created.QueueUrl
	t.Cleanup(func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: url}) })

	body := "hello " + name
	if _, err := q.SendMessage(c, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	receive := func(wait int32) ([]sqstypes.Message, time.Duration) {
		t.Helper()
		start := time.Now()
		got, err := q.ReceiveMessage(c, &sqs.ReceiveMessageInput{
			QueueUrl:                    url,
			MaxNumberOfMessages:         10,
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		return got.Messages, time.Since(start)
	}
	// A long poll answers as soon as a message is there (the stand-in used to wait the
	// whole WaitTimeSeconds and then list the message once per visibility timeout).
	msgs, took := receive(5)
	if len(msgs) != 1 || aws.ToString(msgs[0].Body) != body {
		t.Fatalf("ReceiveMessage returned %d messages (%v), want one with body %q", len(msgs), msgs, body)
	}
	if took > 2*time.Second {
		t.Errorf("long poll with a message waiting took %s, want it to answer at once", took)
	}
	// ApproximateReceiveCount comes back for MessageSystemAttributeNames (the stand-in
	// used to read only the deprecated AttributeNames).
	if rc := msgs[0].Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]; rc != "1" {
		t.Errorf("ApproximateReceiveCount = %q, want 1 (attributes %v)", rc, msgs[0].Attributes)
	}
	// ChangeMessageVisibility does not count as a receive (the stand-in used to count it).
	if _, err := q.ChangeMessageVisibility(c, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: url, ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 1,
	}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	msgs, took = receive(5)
	if len(msgs) != 1 || msgs[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("receive after ChangeMessageVisibility returned %v, want the message with ApproximateReceiveCount 2", msgs)
	}
	if took > 3*time.Second {
		t.Errorf("message came back after %s, want about 1s", took)
	}
	// After the queue's 2 s visibility timeout it comes back once (a 5 s long poll used
	// to list it once per expired visibility timeout).
	msgs, took = receive(5)
	if len(msgs) != 1 || msgs[0].Attributes["ApproximateReceiveCount"] != "3" {
		t.Fatalf("third receive returned %v, want the message once with ApproximateReceiveCount 3", msgs)
	}
	if took > 4*time.Second {
		t.Errorf("message came back after %s, want about 2s", took)
	}
	if _, err := q.DeleteMessage(c, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if msgs, took = receive(1); len(msgs) != 0 || took < 800*time.Millisecond {
		t.Fatalf("after DeleteMessage a 1 s long poll returned %d messages after %s, want none after about 1s", len(msgs), took)
	}
}

func TestSESv2SendAndReadBack(t *testing.T) {
	t.Parallel()
	ses := standin.SESv2(t)
	c := ctx(t)
	to := strings.ToLower(standin.UniqueName("rcpt")) + "@example.com"
	subject := "standin test " + to

	out, err := ses.SendEmail(c, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("herald@example.com"),
		Destination:      &sestypes.Destination{ToAddresses: []string{to}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String(subject)},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("body for " + to)}},
		}},
	})
	if err != nil {
		t.Fatalf("SendEmail: %v", err)
	}
	if aws.ToString(out.MessageId) == "" {
		t.Fatalf("SendEmail returned no MessageId")
	}

	var found []standin.SentEmail
	for _, m := range standin.SentEmails(t) {
		if len(m.Destination.To) == 1 && m.Destination.To[0] == to {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("SES stand-in store holds %d mails to %s, want 1", len(found), to)
	}
	m := found[0]
	if m.MessageID != aws.ToString(out.MessageId) || m.Subject != subject || m.From != "herald@example.com" || m.Body.Text != "body for "+to {
		t.Fatalf("stored mail = %+v, want id %s, subject %q", m, aws.ToString(out.MessageId), subject)
	}
}

func TestRIEInvokesAGoHandler(t *testing.T) {
	t.Parallel()
	standin.RIE(t) // skip/fail before building when the emulator is missing
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", bootstrap, "./testdata/echo")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test handler: %v\n%s", err, out)
	}
	url := standin.StartRIE(t, bootstrap, "ECHO_GREETING=hi")

	invoke := func(payload string) string {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(payload))
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke: %s: %s", resp.Status, body)
		}
		return string(body)
	}
	if got := invoke(`{"name":"herald"}`); got != `{"greeting":"hi herald"}` {
		t.Fatalf("invoke returned %s", got)
	}
	// A handler error is a 200 whose body names the error (no X-Amz-Function-Error).
	if got := invoke(`{"name":""}`); !strings.Contains(got, "errorMessage") || !strings.Contains(got, "name is empty") {
		t.Fatalf("invoke with a failing payload returned %s, want an errorMessage", got)
	}
}

// TestAWSConfigIgnoresAmbientAWSSetup: a developer's AWS profile, region, keys,
// retry and endpoint settings must not leak into (or break) the stand-in clients.
func TestAWSConfigIgnoresAmbientAWSSetup(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "config")
	if err := os.WriteFile(bad, []byte("[profile broken\nregion = eu-west-3\ncredential_process = /bin/false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_PROFILE":                 "does-not-exist",
		"AWS_CONFIG_FILE":             bad,
		"AWS_SHARED_CREDENTIALS_FILE": bad,
		"AWS_REGION":                  "eu-west-3",
		"AWS_DEFAULT_REGION":          "eu-west-3",
		"AWS_ACCESS_KEY_ID":           "AKIAREALLOOKINGKEY00",
		"AWS_SECRET_ACCESS_KEY":       "real-looking-secret",
		"AWS_MAX_ATTEMPTS":            "9",
		"AWS_RETRY_MODE":              "adaptive",
		"AWS_ENDPOINT_URL":            "http://192.0.2.1:1",
		"AWS_USE_FIPS_ENDPOINT":       "true",
	} {
		t.Setenv(k, v)
	}
	cfg := standin.AWSConfig(t)
	if cfg.Region != "us-east-1" {
		t.Errorf("Region = %q, want us-east-1", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("credentials = %+v, %v; want static test/test", creds, err)
	}
	if cfg.RetryMode != aws.RetryModeStandard || cfg.RetryMaxAttempts != 3 {
		t.Errorf("retry mode %q, max attempts %d; want the standard retryer's defaults (standard, 3)", cfg.RetryMode, cfg.RetryMaxAttempts)
	}
	opts := dynamodb.NewFromConfig(cfg).Options()
	if got := opts.Retryer.MaxAttempts(); got != 3 {
		t.Errorf("client retryer MaxAttempts = %d, want 3", got)
	}
	if opts.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled {
		t.Errorf("FIPS endpoints enabled from the environment: custom endpoints would fail")
	}
	if cfg.BaseEndpoint != nil {
		t.Errorf("BaseEndpoint = %q, want nil (each client sets its stand-in's)", *cfg.BaseEndpoint)
	}
}

func TestUniqueName(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[A-Za-z0-9_-]{3,75}$`)
	seen := map[string]bool{}
	for _, prefix := range []string{"", "a", "orders.v1/x", strings.Repeat("p", 200), "Endpoint_Table-1"} {
		for range 50 {
			n := standin.UniqueName(prefix)
			if !valid.MatchString(n) {
				t.Fatalf("UniqueName(%q) = %q: not a valid table/queue name", prefix, n)
			}
			if len(n+".fifo") > 80 {
				t.Fatalf("UniqueName(%q) = %q: too long for a FIFO queue name", prefix, n)
			}
			if seen[n] {
				t.Fatalf("UniqueName(%q) repeated %q", prefix, n)
			}
			seen[n] = true
		}
	}
	if n := standin.UniqueName("orders"); !strings.HasPrefix(n, "orders-") {
		t.Fatalf("UniqueName(orders) = %q, want prefix orders-", n)
	}
}

// TestMissingStandInPolicy checks the skip/fail rule in a child process, with
// the endpoint variables removed.
func TestMissingStandInPolicy(t *testing.T) {
	if os.Getenv("STANDIN_POLICY_CHILD") == "1" {
		standin.Endpoint(t, "dynamodb")
		t.Fatal("Endpoint returned without its variable")
		return
	}
	t.Parallel()
	for _, ci := range []string{"true", ""} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingStandInPolicy$", "-test.v")
		cmd.Env = append(filteredEnv(), "STANDIN_POLICY_CHILD=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		if ci == "true" {
			if err == nil || !strings.Contains(string(out), "--- FAIL") || !strings.Contains(string(out), "HERALD_TEST_DYNAMODB_ENDPOINT") {
				t.Fatalf("CI=true without the endpoint: err=%v, output:\n%s\nwant a failure naming HERALD_TEST_DYNAMODB_ENDPOINT", err, out)
			}
		} else {
			if err != nil || !strings.Contains(string(out), "--- SKIP") || !strings.Contains(string(out), "make test") {
				t.Fatalf("without CI and without the endpoint: err=%v, output:\n%s\nwant a skip naming `make test`", err, out)
			}
		}
	}
}

func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HERALD_TEST_") || strings.HasPrefix(kv, "CI=") || strings.HasPrefix(kv, "STANDIN_POLICY_CHILD=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
