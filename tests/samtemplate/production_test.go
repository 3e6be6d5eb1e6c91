package samtemplate_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/tests/standin"
)

// cfn-lint, AWS's own linter for CloudFormation, including its informational checks, finds
// nothing in template.yaml. Under CI a machine without cfn-lint fails the test.
func TestCfnLintPasses(t *testing.T) {
	t.Parallel()
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if standin.InCI() {
			t.Fatal("cfn-lint is not installed: .ci/run expects it on the machine")
		}
		t.Skip("cfn-lint is not installed")
	}
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lint, "--include-checks", "I", "--format", "parseable", filepath.Join(root, samtemplate.FileName))
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

// Production defaults: the data is kept when the stack goes, logs are kept for a set time,
// tracing does not bill every invocation, the router has its concurrency, the API is
// throttled and logged, and the JWT issuer is named by the deployer.
func TestProductionDefaults(t *testing.T) {
	t.Parallel()
	tp := tpl(t)
	for id, r := range tp.Resources() {
		keeps := r.Type == "AWS::DynamoDB::Table" || r.Type == "AWS::SQS::Queue"
		if keeps && (r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain") {
			t.Errorf("%s (%s) holds customer data but is not Retain on deletion and replacement", id, r.Type)
		}
	}
	groups := tp.ResourcesOfType("AWS::Logs::LogGroup")
	for _, id := range functionIDs(t) {
		target, _, ok := samtemplate.RefTarget(mustLookup(t, function(t, id), "LoggingConfig", "LogGroup"))
		g, exists := groups[target]
		if !ok || !exists {
			t.Errorf("%s logs to %v, not to a log group of the template (which sets its retention)", id, target)
			continue
		}
		if rt, _, ok := samtemplate.RefTarget(g.Properties["RetentionInDays"]); !ok || rt != "LogRetentionInDays" {
			t.Errorf("log group %s of %s: RetentionInDays %v, want the LogRetentionInDays parameter", target, id, g.Properties["RetentionInDays"])
		}
		if tr, _, _ := samtemplate.RefTarget(function(t, id)["Tracing"]); tr != "TracingMode" {
			t.Errorf("%s: Tracing %v, want the TracingMode parameter", id, function(t, id)["Tracing"])
		}
	}
	if def, _ := samtemplate.String(tp.Parameters()["TracingMode"].Default); def != "PassThrough" {
		t.Errorf("TracingMode defaults to %q: every invocation would be traced and billed", def)
	}
	if _, ok := function(t, "RouterFunction")["ReservedConcurrentExecutions"]; !ok {
		t.Error("RouterFunction has no reserved concurrency")
	}
	api := tp.Resources()["HttpApi"].Properties
	for _, path := range [][]string{{"DefaultRouteSettings", "ThrottlingRateLimit"}, {"DefaultRouteSettings", "ThrottlingBurstLimit"}, {"AccessLogSettings", "DestinationArn"}, {"AccessLogSettings", "Format"}} {
		if _, ok := samtemplate.Lookup(api, path...); !ok {
			t.Errorf("HttpApi has no %s", strings.Join(path, "."))
		}
	}
	if p := tp.Parameters()["JwtIssuer"]; p.HasDefault {
		t.Errorf("JwtIssuer defaults to %v: a placeholder issuer would deploy an API nobody can call, or one a stranger's issuer can", p.Default)
	}
}

// An attempt must end before the delivery function's deadline with time left for the
// bookkeeping (the delivery processor keeps 5 s, and cuts an attempt short to keep them).
func TestAttemptTimeoutFitsTheFunctionTimeout(t *testing.T) {
	t.Parallel()
	def, _ := samtemplate.String(tpl(t).Parameters()["AttemptTimeout"].Default)
	attempt, err := time.ParseDuration(def)
	if err != nil {
		t.Fatal(err)
	}
	secs, _ := samtemplate.Int(function(t, "DeliveryFunction")["Timeout"])
	const reserve = 5 * time.Second
	if fn := time.Duration(secs) * time.Second; attempt+reserve > fn/2 {
		t.Fatalf("AttemptTimeout %s + %s of bookkeeping is over half the delivery function's %s timeout: one slow round of attempts would eat the batch", attempt, reserve, fn)
	}
}

// Every new dead letter alarms, not only the first while the queue holds any, and so do the
// delivery function's errors and throttles, the lost attempt log, our own faults, a stalled
// delivery queue, failed mailer runs and emails that keep failing.
func TestAlarmsWatchWhatGoesWrong(t *testing.T) {
	t.Parallel()
	type watch struct{ namespace, metric, dimension string }
	var have []watch
	for _, a := range tpl(t).ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		w := watch{namespace: str(p["Namespace"]), metric: str(p["MetricName"])}
		if dims, _ := p["Dimensions"].([]any); len(dims) > 0 {
			m, _ := dims[0].(map[string]any)
			w.dimension, _, _ = samtemplate.RefTarget(m["Value"])
		}
		if _, ok := p["AlarmActions"]; !ok {
			t.Errorf("alarm on %s/%s tells nobody", w.namespace, w.metric)
		}
		have = append(have, w)
	}
	want := []watch{
		{"AWS/Lambda", "Errors", "DeliveryFunction"},
		{"AWS/Lambda", "Throttles", "DeliveryFunction"},
		{"Herald", "AttemptLogLost", ""},
		{"Herald", "OwnFaultRequeued", ""},
		{"Herald", "DeadLettered", ""},
		{"AWS/SQS", "ApproximateAgeOfOldestMessage", "DeliveryQueue"},
		{"AWS/Lambda", "Errors", "MailerFunction"},
		{"AWS/Lambda", "Errors", "DigestFunction"},
		{"Herald", "EmailsFailed", ""},
		{"Herald", "EmailLinesGivenUp", ""},
	}
	for _, q := range deadLetterQueues(t) {
		want = append(want, watch{"AWS/SQS", "NumberOfMessagesSent", q})
	}
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			t.Errorf("no alarm watches %s %s %s", w.namespace, w.metric, w.dimension)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

func mustLookup(t *testing.T, m map[string]any, path ...string) any {
	t.Helper()
	v, ok := samtemplate.Lookup(m, path...)
	if !ok {
		t.Errorf("no %s", strings.Join(path, "."))
	}
	return v
}

// Reading and changing take different scopes: every /v1 route of the API names its scopes, a
// GET accepts the read scope (or the write one), anything else only the write scope, and the
// GETs that connect a Slack channel count as changes.
func TestAPIRoutesSplitReadAndWriteScopes(t *testing.T) {
	t.Parallel()
	events, _ := function(t, "ApiFunction")["Events"].(map[string]any)
	routes := 0
	for name, ev := range events {
		p, _ := ev.(map[string]any)["Properties"].(map[string]any)
		path, method := str(p["Path"]), str(p["Method"])
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		routes++
		if authorizer, _ := samtemplate.Lookup(p, "Auth", "Authorizer"); authorizer == "NONE" {
			// The one public /v1 route: an email's unsubscribe link, whose signature is its
			// authorisation (recipients have no login).
			if path != "/v1/unsubscribe" {
				t.Errorf("event %s: %s %s has no authorizer", name, method, path)
			}
			continue
		}
		if method == "ANY" {
			t.Errorf("event %s: %s %s takes one scope for reads and writes alike", name, method, path)
		}
		raw, _ := samtemplate.Lookup(p, "Auth", "AuthorizationScopes")
		list, _ := raw.([]any)
		var scopes []string
		for _, s := range list {
			target, _, _ := samtemplate.RefTarget(s)
			scopes = append(scopes, target)
		}
		write := []string{"JwtWriteScope"}
		want := write
		if method == "GET" && !strings.HasPrefix(path, "/v1/slack/oauth/") {
			want = []string{"JwtReadScope", "JwtWriteScope"}
		}
		if strings.Join(scopes, ",") != strings.Join(want, ",") {
			t.Errorf("event %s: %s %s takes scopes %v, want %v", name, method, path, scopes, want)
		}
	}
	if routes < 5 {
		t.Errorf("%d /v1 routes, want GET, POST, PATCH, DELETE and the Slack connection", routes)
	}
}
