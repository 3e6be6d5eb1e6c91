package samtemplate_test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/infra/lambdafn/apifn"
	"github.com/heraldhq/herald/infra/samtemplate"

	"github.com/heraldhq/herald/events/samples"
	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/eventpattern"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/shared/delivery"
)

// The wiring test: template.yaml against the code it deploys. SAM CLI cannot run here, so each
// check stands for something `sam build`/`sam deploy` or the first invocation would otherwise
// find out in AWS.

var (
	loadOnce   sync.Once
	loaded     *samtemplate.Template
	loadErr    error
	moduleRoot string
)

func tpl(t *testing.T) *samtemplate.Template {
	t.Helper()
	loadOnce.Do(func() {
		moduleRoot, loadErr = samtemplate.FindRoot()
		if loadErr == nil {
			loaded, loadErr = samtemplate.Load(filepath.Join(moduleRoot, samtemplate.FileName))
		}
	})
	if loadErr != nil {
		t.Fatalf("load template: %v", loadErr)
	}
	return loaded
}

// declaredEnv is every environment variable infra/lambdafn reads (its Env* constants).
var declaredEnv = []string{
	apifn.EnvConsoleIssuer, apifn.EnvConsoleClientID, apifn.EnvConsoleScopes, apifn.EnvConsoleAudience,
	apifn.EnvConsoleAuthorizationEndpoint, apifn.EnvConsoleTokenEndpoint,
	lambdafn.EnvWebhooksTable,
	lambdafn.EnvAttemptsTable,
	lambdafn.EnvActivityTable,
	lambdafn.EnvDeliveryQueueURL,
	lambdafn.EnvDeliveryDLQURL,
	lambdafn.EnvOrderedDeliveryQueueURL,
	lambdafn.EnvOrderedDeliveryDLQURL,
	lambdafn.EnvRetrySchedule,
	lambdafn.EnvAttemptTimeout,
	lambdafn.EnvAttemptRetention,
	lambdafn.EnvConfigCacheTTL,
	lambdafn.EnvEventBusName,
	lambdafn.EnvEndpointDisableAfter,
	lambdafn.EnvEndpointMinFailures,
	lambdafn.EnvAllowLoopback,
	lambdafn.EnvJWTTenantClaim,
	lambdafn.EnvSlackClientID,
	lambdafn.EnvSlackClientSecret,
	lambdafn.EnvSlackRedirectURL,
	lambdafn.EnvSlackStateKey,
	lambdafn.EnvMailTable,
	lambdafn.EnvMailFrom,
	lambdafn.EnvEmailInterval,
	lambdafn.EnvEmailRate,
	lambdafn.EnvUnsubscribeKey,
	lambdafn.EnvPublicAPIURL,
}

// deployValues are values for the parameters that have no Default: a deploy must name them
// (CloudFormation refuses one that does not), so the functions never see them unset. Each
// value meets its parameter's constraints, which TestParameterDefaultsMatchTheirConstraints's
// rules do not check for a missing Default.
var deployValues = map[string]string{
	"JwtIssuer":      "https://auth.example.com/",
	"MailFrom":       "noreply@example.com",
	"UnsubscribeKey": "0123456789abcdef0123456789abcdef",
}

// validators says which configuration check each function of the template must pass. A new
// function in the template must be added here.
var validators = map[string]func(lambdafn.Config) error{
	"RouterFunction":   lambdafn.Config.ValidateRouter,
	"DeliveryFunction": lambdafn.Config.ValidateDelivery,
	"ApiFunction":      lambdafn.Config.ValidateAPI,
	"NotifyFunction":   lambdafn.Config.ValidateNotify,
	"MailerFunction":   func(c lambdafn.Config) error { return lambdafn.Require(lambdafn.EnvMailTable, c.MailTable) },
	"DigestFunction":   lambdafn.Config.ValidateDigest,
}

const serverlessFunction = "AWS::Serverless::Function"

func functionIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for id := range tpl(t).ResourcesOfType(serverlessFunction) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		t.Fatal("template.yaml defines no AWS::Serverless::Function")
	}
	return ids
}

func function(t *testing.T, id string) map[string]any {
	t.Helper()
	p, err := tpl(t).FunctionProperties(id)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return p
}

func TestFunctionsBuildForProvidedAL2023OnArm64(t *testing.T) {
	t.Parallel()
	for _, id := range functionIDs(t) {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			p := function(t, id)
			if got := p["Runtime"]; got != "provided.al2023" {
				t.Errorf("%s: Runtime is %v (Globals merged), want provided.al2023: go1.x is deprecated and SAM's Go builder targets the OS-only runtime", id, got)
			}
			if got := p["Handler"]; got != "bootstrap" {
				t.Errorf("%s: Handler is %v, want bootstrap: provided runtimes execute the file named bootstrap", id, got)
			}
			if got, _ := p["Architectures"].([]any); !slices.Equal(got, []any{"arm64"}) {
				t.Errorf("%s: Architectures is %v (Globals and function lists add up), want exactly [arm64]", id, p["Architectures"])
			}
			if bm, _ := samtemplate.Lookup(tpl(t).Resources()[id].Metadata, "BuildMethod"); bm != "go1.x" {
				t.Errorf("%s: Metadata.BuildMethod is %v, want go1.x on the resource itself (Metadata cannot go in Globals); without it sam build does not compile Go", id, bm)
			}
			codeURI, ok := p["CodeUri"].(string)
			if !ok || codeURI == "" {
				t.Fatalf("%s: CodeUri is %v, want the function's package folder, e.g. functions/router/", id, p["CodeUri"])
			}
			pkg := filepath.Clean(filepath.FromSlash(codeURI))
			if filepath.IsAbs(pkg) || strings.HasPrefix(pkg, "..") {
				t.Fatalf("%s: CodeUri %q must be a folder inside the module", id, codeURI)
			}
			if fi, err := os.Stat(filepath.Join(moduleRoot, pkg)); err != nil || !fi.IsDir() {
				t.Fatalf("%s: CodeUri %q is not a folder of the module: %v", id, codeURI, err)
			}
			buildBootstrap(t, id, pkg)
		})
	}
}

// buildBootstrap builds the function as SAM's go1.x builder does for provided.al2023 on arm64,
// and checks the binary would start there: an aarch64 ELF, statically linked.
func buildBootstrap(t *testing.T, id, pkg string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./"+filepath.ToSlash(pkg))
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: CodeUri %s does not build for linux/arm64 with CGO off: %v\n%s", id, pkg, err, msg)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatalf("%s: bootstrap is not an ELF binary: %v", id, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("%s: bootstrap machine is %v, want EM_AARCH64 to match Architectures [arm64]", id, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: bootstrap has a %v program header: it is dynamically linked and may not start on provided.al2023; build with CGO_ENABLED=0", id, prog.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Errorf("%s: bootstrap has a .dynamic/.interp section: it is not statically linked", id)
	}
}

// resolver gives the value a function would see for a template value: literals as written,
// parameters at their defaults, resources as a placeholder.
type resolver struct {
	t      *samtemplate.Template
	params map[string]samtemplate.Parameter
	res    map[string]samtemplate.Resource
}

func newResolver(t *samtemplate.Template) resolver {
	return resolver{t: t, params: t.Parameters(), res: t.Resources()}
}

func (r resolver) value(v any) (string, error) {
	if s, ok := samtemplate.String(v); ok {
		return s, nil
	}
	if m, ok := v.(map[string]any); ok {
		if sub, ok := m["Fn::Sub"].(string); ok {
			return "sub:" + sub, nil // resolved by CloudFormation at deploy
		}
	}
	target, fn, ok := samtemplate.RefTarget(v)
	if !ok {
		return "", fmt.Errorf("%v is neither a literal, a !Ref nor a !GetAtt", v)
	}
	if fn == "Ref" {
		if p, isParam := r.params[target]; isParam {
			if !p.HasDefault {
				if v, given := deployValues[target]; given {
					return v, nil
				}
				return "", fmt.Errorf("parameter %s has no Default, so a plain deploy leaves it unset", target)
			}
			s, ok := samtemplate.String(p.Default)
			if !ok {
				return "", fmt.Errorf("parameter %s's Default %v is not a scalar", target, p.Default)
			}
			return s, nil
		}
		if _, isRes := r.res[target]; isRes {
			return "ref:" + target, nil
		}
		return "", fmt.Errorf("!Ref %s names neither a parameter nor a resource of the template", target)
	}
	if _, isRes := r.res[target]; isRes {
		return "getatt:" + target, nil
	}
	return "", fmt.Errorf("!GetAtt %s names no resource of the template", target)
}

func environment(t *testing.T, id string) map[string]any {
	t.Helper()
	vars, _ := samtemplate.Lookup(function(t, id), "Environment", "Variables")
	m, ok := vars.(map[string]any)
	if vars != nil && !ok {
		t.Fatalf("%s: Environment.Variables is %v, want a mapping", id, vars)
	}
	return m
}

func TestFunctionEnvironmentMatchesLambdafnConfig(t *testing.T) {
	t.Parallel()
	r := newResolver(tpl(t))
	for _, id := range functionIDs(t) {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			validate, known := validators[id]
			if !known {
				t.Fatalf("%s: a function this test does not know; add it to validators with the lambdafn.Config check it must pass", id)
			}
			env := environment(t, id)
			values := map[string]string{}
			for name, v := range env {
				if !slices.Contains(declaredEnv, name) {
					t.Errorf("%s sets %s, which infra/lambdafn never reads (declared: %v)", id, name, declaredEnv)
				}
				if name == lambdafn.EnvAllowLoopback {
					t.Errorf("%s sets %s: deployed, a webhook URL must never reach 127.0.0.0/8 or ::1; the variable exists for tests and the single-machine runtime only", id, name)
				}
				s, err := r.value(v)
				if err != nil {
					t.Errorf("%s: %s: %v", id, name, err)
					continue
				}
				values[name] = s
			}
			cfg, err := lambdafn.LoadConfig(func(k string) string { return values[k] })
			if err != nil {
				t.Fatalf("%s: lambdafn.LoadConfig rejects the template's environment (parameter defaults applied): %v", id, err)
			}
			if err := validate(cfg); err != nil {
				t.Errorf("%s: the template's environment lacks what the function needs: %v", id, err)
			}
			if _, err := lambdafn.LoadSlackConfig(func(k string) string { return values[k] }); err != nil {
				t.Errorf("%s: lambdafn.LoadSlackConfig rejects the template's environment (parameter defaults applied): %v", id, err)
			}
			mailCfg, err := lambdafn.LoadMailConfig(func(k string) string { return values[k] })
			if err != nil {
				t.Errorf("%s: lambdafn.LoadMailConfig rejects the template's environment: %v", id, err)
			}
			if id == "DigestFunction" {
				if err := mailCfg.ValidateDigest(); err != nil {
					t.Errorf("%s: the template's environment lacks what the digest function needs to email: %v", id, err)
				}
			}
			if id == "MailerFunction" {
				if err := mailCfg.ValidateMailer(); err != nil {
					t.Errorf("%s: the template's environment lacks what the mailer needs: %v", id, err)
				}
				if mailCfg.Interval != 5*time.Minute {
					t.Errorf("%s: email interval %s from the template, want the spec's 5 minutes by default", id, mailCfg.Interval)
				}
			}
			if cfg.AllowLoopback {
				t.Errorf("%s: loopback delivery is enabled", id)
			}
			timeout, ok := samtemplate.Int(function(t, id)["Timeout"])
			if !ok {
				t.Fatalf("%s: Timeout is %v, want a literal number of seconds", id, function(t, id)["Timeout"])
			}
			if id == "DeliveryFunction" && cfg.AttemptTimeout*2 > time.Duration(timeout)*time.Second {
				t.Errorf("%s: Timeout %d s leaves no headroom over one attempt of %s (%s); a batch's attempts plus the store writes must finish well within it",
					id, timeout, cfg.AttemptTimeout, lambdafn.EnvAttemptTimeout)
			}
		})
	}
}

// TestParameterDefaultsMatchTheirConstraints catches a Default that CloudFormation itself
// would refuse at deploy time.
func TestParameterDefaultsMatchTheirConstraints(t *testing.T) {
	t.Parallel()
	for name, p := range tpl(t).Parameters() {
		pattern, hasPattern := p.Raw["AllowedPattern"].(string)
		if !hasPattern || !p.HasDefault {
			continue
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			t.Errorf("parameter %s: AllowedPattern %q is not a valid regular expression: %v", name, pattern, err)
			continue
		}
		def, _ := samtemplate.String(p.Default)
		if def != "" && !re.MatchString(def) {
			t.Errorf("parameter %s: Default %q does not match its AllowedPattern %q: the stack would not deploy", name, def, pattern)
		}
	}
	if p, ok := tpl(t).Parameters()["RetrySchedule"]; ok {
		if def, _ := samtemplate.String(p.Default); def != delivery.DefaultSchedule {
			t.Errorf("parameter RetrySchedule defaults to %q, want delivery.DefaultSchedule %q so that deployed and tested retries agree", def, delivery.DefaultSchedule)
		}
	}
}

// pseudoParameters are CloudFormation's own Ref targets.
var pseudoParameters = []string{
	"AWS::AccountId", "AWS::NoValue", "AWS::NotificationARNs", "AWS::Partition", "AWS::Region",
	"AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// samGenerated returns the logical ids SAM's transform creates and a template may reference:
// <Function>Role for a function without its own Role, and <Function><Event> for the rule or
// mapping an event source generates.
func samGenerated(t *samtemplate.Template) map[string]bool {
	ids := map[string]bool{}
	for id, r := range t.ResourcesOfType(serverlessFunction) {
		if _, hasRole := r.Properties["Role"]; !hasRole {
			ids[id+"Role"] = true
		}
		events, _ := r.Properties["Events"].(map[string]any)
		for ev := range events {
			ids[id+ev] = true
		}
	}
	return ids
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// TestEveryReferenceResolves walks the whole template: each Ref, GetAtt, Sub variable and
// condition name must exist, or CloudFormation rejects the stack.
func TestEveryReferenceResolves(t *testing.T) {
	t.Parallel()
	tp := tpl(t)
	resources, params, conditions := tp.Resources(), tp.Parameters(), tp.Conditions()
	generated := samGenerated(tp)
	exists := func(name string, locals map[string]any) bool {
		if _, ok := locals[name]; ok {
			return true
		}
		_, isRes := resources[name]
		_, isParam := params[name]
		return isRes || isParam || generated[name] || slices.Contains(pseudoParameters, name)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if target, fn, ok := samtemplate.RefTarget(v); ok {
				if fn == "Fn::GetAtt" {
					if _, isParam := params[target]; isParam || (!exists(target, nil)) {
						t.Errorf("%s: !GetAtt %s names no resource of the template", path, target)
					}
				} else if !exists(target, nil) {
					t.Errorf("%s: !Ref %s names no resource, parameter or pseudo parameter", path, target)
				}
				return
			}
			if sub, ok := v["Fn::Sub"]; ok && len(v) == 1 {
				text, locals := sub, map[string]any(nil)
				if l, isList := sub.([]any); isList && len(l) == 2 {
					text = l[0]
					locals, _ = l[1].(map[string]any)
					walk(path+"/Fn::Sub", l[1])
				}
				s, _ := text.(string)
				for _, m := range subVar.FindAllStringSubmatch(s, -1) {
					name, _, _ := strings.Cut(m[1], ".")
					if !exists(m[1], locals) && !exists(name, locals) {
						t.Errorf("%s: !Sub ${%s} names nothing the template defines", path, m[1])
					}
				}
				return
			}
			if c, ok := v["Fn::If"].([]any); ok && len(v) == 1 && len(c) == 3 {
				if name, _ := c[0].(string); conditions[name] == nil {
					t.Errorf("%s: !If uses condition %v, which Conditions does not define", path, c[0])
				}
			}
			for k, child := range v {
				walk(path+"/"+k, child)
			}
		case []any:
			for i, child := range v {
				walk(fmt.Sprintf("%s/%d", path, i), child)
			}
		}
	}
	for _, section := range []string{"Resources", "Outputs", "Conditions", "Globals"} {
		walk(section, tp.Section(section))
	}
	for id, r := range resources {
		if r.Condition != "" && conditions[r.Condition] == nil {
			t.Errorf("resource %s: Condition %s is not defined in Conditions", id, r.Condition)
		}
	}
}

// eventsOfType returns a function's events of one type by event id.
func eventsOfType(t *testing.T, fnID, typ string) map[string]map[string]any {
	t.Helper()
	events, _ := function(t, fnID)["Events"].(map[string]any)
	out := map[string]map[string]any{}
	for id, ev := range events {
		m, _ := ev.(map[string]any)
		if m["Type"] == typ {
			props, ok := m["Properties"].(map[string]any)
			if !ok {
				t.Fatalf("%s event %s: Properties is %v, want a mapping", fnID, id, m["Properties"])
			}
			out[id] = props
		}
	}
	return out
}

// queueOf returns the logical id of the SQS queue a value references, failing the test when it
// references anything else.
func queueOf(t *testing.T, where string, v any) string {
	t.Helper()
	target, _, ok := samtemplate.RefTarget(v)
	if !ok {
		t.Fatalf("%s is %v, want a !Ref or !GetAtt of a queue of this template", where, v)
	}
	if r, exists := tpl(t).Resources()[target]; !exists || r.Type != "AWS::SQS::Queue" {
		t.Fatalf("%s references %s, which is not an AWS::SQS::Queue of this template", where, target)
	}
	return target
}

func TestRouterRuleMatchesTheSampleEvents(t *testing.T) {
	t.Parallel()
	rules := eventsOfType(t, "RouterFunction", "EventBridgeRule")
	if len(rules) != 1 {
		t.Fatalf("RouterFunction has %d EventBridgeRule events, want exactly one", len(rules))
	}
	var ruleID string
	var rule map[string]any
	for id, props := range rules {
		ruleID, rule = id, props
	}
	pattern, ok := rule["Pattern"].(map[string]any)
	if !ok {
		t.Fatalf("RouterFunction event %s: Pattern is %v, want a literal mapping", ruleID, rule["Pattern"])
	}
	raw, err := json.Marshal(pattern)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := eventpattern.Compile(raw)
	if err != nil {
		t.Fatalf("RouterFunction event %s: the Pattern is not a valid EventBridge pattern: %v", ruleID, err)
	}
	check := func(folder string, want bool) {
		names, err := samples.List(folder)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 {
			t.Fatalf("no samples in events/samples/%s", folder)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "/expected-reasons.json") {
				continue
			}
			ev, err := samples.Read(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := compiled.Match(ev)
			if err != nil {
				t.Errorf("sample %s: %v", name, err)
				continue
			}
			if got != want {
				if want {
					t.Errorf("the rule's pattern %s does not match events/samples/%s: the router would never see it", raw, name)
				} else {
					t.Errorf("the rule's pattern %s matches events/samples/%s, which the router must never receive", raw, name)
				}
			}
		}
	}
	check("router", true)
	check("rejected", true)
	check("unmatched", false)

	for _, want := range [][2]string{{"source", stagetransition.Source}, {"detail-type", stagetransition.DetailType}} {
		if got, _ := pattern[want[0]].([]any); !slices.Equal(got, []any{want[1]}) {
			t.Errorf("RouterFunction event %s: Pattern %s is %v, want exactly [%q] (events/stagetransition)", ruleID, want[0], pattern[want[0]], want[1])
		}
	}

	retry, _ := rule["RetryPolicy"].(map[string]any)
	for _, k := range []string{"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} {
		if _, ok := samtemplate.Int(retry[k]); !ok {
			t.Errorf("RouterFunction event %s: RetryPolicy.%s is %v, want a number, so that invoke failures are retried on purpose", ruleID, k, retry[k])
		}
	}
	dlc, ok := rule["DeadLetterConfig"].(map[string]any)
	if !ok {
		t.Fatalf("RouterFunction event %s: no DeadLetterConfig: events EventBridge fails to deliver would be dropped", ruleID)
	}
	if dlc["Type"] != "SQS" {
		dlq := queueOf(t, "RouterFunction event "+ruleID+" DeadLetterConfig.Arn", dlc["Arn"])
		checkEventBridgeMaySend(t, dlq, ruleID)
	}

	eic, ok := function(t, "RouterFunction")["EventInvokeConfig"].(map[string]any)
	if !ok {
		t.Fatal("RouterFunction has no EventInvokeConfig: a failure inside the function would be retried twice and then lost")
	}
	if n, ok := samtemplate.Int(eic["MaximumRetryAttempts"]); !ok || n != 2 {
		t.Errorf("RouterFunction EventInvokeConfig.MaximumRetryAttempts is %v, want 2", eic["MaximumRetryAttempts"])
	}
	if n, ok := samtemplate.Int(eic["MaximumEventAgeInSeconds"]); !ok || n < 60 || n > 21600 {
		t.Errorf("RouterFunction EventInvokeConfig.MaximumEventAgeInSeconds is %v, want 60..21600", eic["MaximumEventAgeInSeconds"])
	}
	onFailure, _ := samtemplate.Lookup(eic, "DestinationConfig", "OnFailure")
	of, _ := onFailure.(map[string]any)
	if of["Type"] != "SQS" {
		t.Fatalf("RouterFunction EventInvokeConfig.DestinationConfig.OnFailure is %v, want Type SQS with a Destination queue, so a failing invocation is parked, not lost", onFailure)
	}
	queueOf(t, "RouterFunction EventInvokeConfig OnFailure.Destination", of["Destination"])
}

// checkEventBridgeMaySend asserts a queue policy lets events.amazonaws.com send to dlq, scoped
// by aws:SourceArn to the rule SAM generates for the event.
func checkEventBridgeMaySend(t *testing.T, dlq, eventID string) {
	t.Helper()
	ruleLogicalID := "RouterFunction" + eventID
	for id, p := range tpl(t).ResourcesOfType("AWS::SQS::QueuePolicy") {
		queues, _ := p.Properties["Queues"].([]any)
		covers := false
		for _, q := range queues {
			if target, _, _ := samtemplate.RefTarget(q); target == dlq {
				covers = true
			}
		}
		if !covers {
			continue
		}
		stmts, _ := samtemplate.Lookup(p.Properties, "PolicyDocument", "Statement")
		list, _ := stmts.([]any)
		for _, s := range list {
			st, _ := s.(map[string]any)
			principal, _ := samtemplate.Lookup(st, "Principal", "Service")
			if st["Effect"] != "Allow" || principal != "events.amazonaws.com" || !actionsInclude(st["Action"], "sqs:SendMessage") {
				continue
			}
			for _, op := range []string{"ArnEquals", "ArnLike"} {
				src, _ := samtemplate.Lookup(st, "Condition", op, "aws:SourceArn")
				if target, _, _ := samtemplate.RefTarget(src); target == ruleLogicalID {
					return
				}
			}
			t.Errorf("queue policy %s lets EventBridge send to %s without an aws:SourceArn condition naming the rule %s: any rule could write to it", id, dlq, ruleLogicalID)
			return
		}
	}
	t.Errorf("no AWS::SQS::QueuePolicy lets events.amazonaws.com sqs:SendMessage to %s: EventBridge cannot dead-letter there, and the events are lost", dlq)
}

func actionsInclude(v any, action string) bool {
	for _, a := range stringsOf(v) {
		if matchWildcard(a, action) {
			return true
		}
	}
	return false
}

func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// matchWildcard matches an IAM action pattern (with * and ?) against an action, ignoring case.
func matchWildcard(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	ok, _ := regexp.MatchString("(?i)"+re, s)
	return ok
}

func queueProps(t *testing.T, id string) map[string]any {
	t.Helper()
	r, ok := tpl(t).Resources()[id]
	if !ok || r.Type != "AWS::SQS::Queue" {
		t.Fatalf("template.yaml has no AWS::SQS::Queue %s", id)
	}
	return r.Properties
}

// retention returns a queue's MessageRetentionPeriod, SQS's default of 4 days when unset.
func retention(t *testing.T, id string) time.Duration {
	t.Helper()
	v, set := queueProps(t, id)["MessageRetentionPeriod"]
	if !set {
		return 4 * 24 * time.Hour
	}
	n, ok := samtemplate.Int(v)
	if !ok {
		t.Fatalf("%s: MessageRetentionPeriod is %v, want a literal number of seconds", id, v)
	}
	return time.Duration(n) * time.Second
}

func TestDeliveryQueueing(t *testing.T) {
	t.Parallel()
	sqsEvents := eventsOfType(t, "DeliveryFunction", "SQS")
	if len(sqsEvents) != 2 {
		t.Fatalf("DeliveryFunction has %d SQS events, want exactly two (the delivery queue and the FIFO queue of ordered webhooks)", len(sqsEvents))
	}
	fifos := 0
	r := newResolver(tpl(t))
	for evID, ev := range sqsEvents {
		where := "DeliveryFunction event " + evID
		if got := stringsOf(ev["FunctionResponseTypes"]); !slices.Contains(got, "ReportBatchItemFailures") {
			t.Errorf("%s: FunctionResponseTypes is %v, want [ReportBatchItemFailures]: without it one failed job returns the whole batch and every receiver is called again", where, ev["FunctionResponseTypes"])
		}
		mc, _ := samtemplate.Lookup(ev, "ScalingConfig", "MaximumConcurrency")
		s, err := r.value(mc)
		if err != nil {
			t.Errorf("%s: ScalingConfig.MaximumConcurrency: %v", where, err)
		} else if n, ok := samtemplate.Int(s); !ok || n < 2 || n > 1000 {
			t.Errorf("%s: ScalingConfig.MaximumConcurrency is %q, want 2..1000 (Lambda's bounds)", where, s)
		}
		if target, fn, _ := samtemplate.RefTarget(mc); fn == "Ref" {
			if p, isParam := r.params[target]; isParam {
				lo, okLo := samtemplate.Int(p.Raw["MinValue"])
				hi, okHi := samtemplate.Int(p.Raw["MaxValue"])
				if !okLo || !okHi || lo < 2 || hi > 1000 {
					t.Errorf("parameter %s (MaximumConcurrency): MinValue %v / MaxValue %v, want 2..1000 so a bad value fails at deploy", target, p.Raw["MinValue"], p.Raw["MaxValue"])
				}
			}
		}
		batch, ok := samtemplate.Int(ev["BatchSize"])
		if !ok {
			batch = 10
		}
		if _, hasWindow := ev["MaximumBatchingWindowInSeconds"]; batch > 10 && !hasWindow {
			t.Errorf("%s: BatchSize %d above 10 needs MaximumBatchingWindowInSeconds", where, batch)
		}
		if w, ok := samtemplate.Int(ev["MaximumBatchingWindowInSeconds"]); ok && (w < 0 || w > 300) {
			t.Errorf("%s: MaximumBatchingWindowInSeconds %d, want 0..300", where, w)
		}

		queue := queueOf(t, where+" Queue", ev["Queue"])
		q := queueProps(t, queue)
		// The standard queue and the FIFO queue each have their variables.
		fifo, _ := q["FifoQueue"].(bool)
		queueVar, dlqVar := lambdafn.EnvDeliveryQueueURL, lambdafn.EnvDeliveryDLQURL
		if fifo {
			fifos++
			queueVar, dlqVar = lambdafn.EnvOrderedDeliveryQueueURL, lambdafn.EnvOrderedDeliveryDLQURL
			if _, hasWindow := ev["MaximumBatchingWindowInSeconds"]; hasWindow {
				t.Errorf("%s: a FIFO queue's event source takes no MaximumBatchingWindowInSeconds", where)
			}
		}
		timeout, _ := samtemplate.Int(function(t, "DeliveryFunction")["Timeout"])
		if vt, ok := samtemplate.Int(q["VisibilityTimeout"]); !ok || vt < 6*timeout {
			t.Errorf("%s: VisibilityTimeout is %v, want at least 6 x DeliveryFunction Timeout (%d s) = %d s", queue, q["VisibilityTimeout"], timeout, 6*timeout)
		}

		sched, err := delivery.ParseSchedule(delivery.DefaultSchedule)
		if err != nil {
			t.Fatal(err)
		}
		redrive, ok := q["RedrivePolicy"].(map[string]any)
		if !ok {
			t.Fatalf("%s: no RedrivePolicy: a job that crashes the function would be retried until retention expires it", queue)
		}
		mrc, ok := samtemplate.Int(redrive["maxReceiveCount"])
		if !ok || mrc < 5 || mrc <= sched.MaxAttempts() {
			t.Errorf("%s: RedrivePolicy.maxReceiveCount is %v, want at least 5 and above the schedule's %d attempts, so that throttled or crashed batches never park a healthy job without the reason the code attaches",
				queue, redrive["maxReceiveCount"], sched.MaxAttempts())
		}
		dlq := queueOf(t, queue+" RedrivePolicy.deadLetterTargetArn", redrive["deadLetterTargetArn"])
		if dlqFIFO, _ := queueProps(t, dlq)["FifoQueue"].(bool); dlqFIFO != fifo {
			t.Errorf("%s: FIFO %v, its dead-letter queue %s FIFO %v: SQS requires them alike", queue, fifo, dlq, dlqFIFO)
		}

		// Each retry is a new message, so a message lives at most one wait; the whole schedule
		// at its longest jitter is the conservative bound checked here.
		var span, withJitter time.Duration
		for i, d := range sched {
			span += d
			_, longest, _ := sched.WaitRange(i + 1)
			withJitter += longest
		}
		if got := retention(t, queue); got <= withJitter {
			t.Errorf("%s: MessageRetentionPeriod %s is not above the default retry schedule's %s (%s with jitter): SQS would expire jobs before their last attempt",
				queue, got, span, withJitter)
		}
		if got, src := retention(t, dlq), retention(t, queue); got <= src {
			t.Errorf("%s: MessageRetentionPeriod %s is not above its source %s's %s: a dead-letter queue keeps the original enqueue time, so redriven jobs would expire early", dlq, got, queue, src)
		}

		env := environment(t, "DeliveryFunction")
		if target, _, _ := samtemplate.RefTarget(env[queueVar]); target != queue {
			t.Errorf("DeliveryFunction: %s references %v, want the queue its SQS event reads (%s), or retries go elsewhere", queueVar, env[queueVar], queue)
		}
		if target, _, _ := samtemplate.RefTarget(env[dlqVar]); target != dlq {
			t.Errorf("DeliveryFunction: %s references %v, want %s, the delivery queue's redrive target", dlqVar, env[dlqVar], dlq)
		}
		for _, producer := range []string{"RouterFunction", "NotifyFunction", "DigestFunction", "ApiFunction"} {
			if target, _, _ := samtemplate.RefTarget(environment(t, producer)[queueVar]); target != queue {
				t.Errorf("%s: %s does not reference %s, the queue DeliveryFunction reads", producer, queueVar, queue)
			}
		}
	}
	if fifos != 1 {
		t.Errorf("DeliveryFunction reads %d FIFO queues, want one, for ordered webhooks", fifos)
	}
	for _, id := range []string{"RouterEventsDLQ", "RouterFailureQueue"} {
		if _, ok := tpl(t).Resources()[id]; ok {
			if got := retention(t, id); got < 14*24*time.Hour {
				t.Errorf("%s: MessageRetentionPeriod %s, want 14 days: parked events must outlive a long weekend and a slow investigation", id, got)
			}
		}
	}
}

func table(t *testing.T, id string) map[string]any {
	t.Helper()
	r, ok := tpl(t).Resources()[id]
	if !ok || r.Type != samtemplate.TableType {
		t.Fatalf("template.yaml has no %s %s", samtemplate.TableType, id)
	}
	return r.Properties
}

// keys returns an index's or table's key schema as "name HASH", "name RANGE".
func keys(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, k := range list {
		m, _ := k.(map[string]any)
		out = append(out, fmt.Sprintf("%v %v", m["AttributeName"], m["KeyType"]))
	}
	return out
}

func attributeTypes(p map[string]any) map[string]string {
	out := map[string]string{}
	list, _ := p["AttributeDefinitions"].([]any)
	for _, d := range list {
		m, _ := d.(map[string]any)
		out[fmt.Sprint(m["AttributeName"])] = fmt.Sprint(m["AttributeType"])
	}
	return out
}

func gsi(t *testing.T, tableID string, p map[string]any, name string) map[string]any {
	t.Helper()
	list, _ := p["GlobalSecondaryIndexes"].([]any)
	var names []any
	for _, g := range list {
		m, _ := g.(map[string]any)
		if m["IndexName"] == name {
			return m
		}
		names = append(names, m["IndexName"])
	}
	t.Fatalf("%s: no global secondary index %q (the adapters query it; the template has %v)", tableID, name, names)
	return nil
}

func TestTablesMatchTheAdapters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		table     string
		keys      []string
		index     string
		indexKeys []string
		types     map[string]string
	}{
		{
			table: "WebhooksTable", keys: []string{"pk HASH", "sk RANGE"},
			index: dynamo.StageIndex, indexKeys: []string{"stage_key HASH", "webhook_id RANGE"},
			types: map[string]string{"pk": "S", "sk": "S", "stage_key": "S", "webhook_id": "S", "due_part": "S", "next_due": "N"},
		},
		{
			table: "WebhooksTable", keys: []string{"pk HASH", "sk RANGE"},
			index: dynamo.DigestsDueIndex, indexKeys: []string{"due_part HASH", "next_due RANGE"},
			types: map[string]string{"pk": "S", "sk": "S", "stage_key": "S", "webhook_id": "S", "due_part": "S", "next_due": "N"},
		},
		{
			table: "AttemptsTable", keys: []string{"pk HASH", "sk RANGE"},
			index: dynamo.DeliveryIndex, indexKeys: []string{"delivery_key HASH", "attempt RANGE"},
			types: map[string]string{"pk": "S", "sk": "S", "delivery_key": "S", "attempt": "N"},
		},
	} {
		p := table(t, tc.table)
		if got := keys(p["KeySchema"]); !slices.Equal(got, tc.keys) {
			t.Errorf("%s: KeySchema is %v, want %v (infra/dynamo's key design)", tc.table, got, tc.keys)
		}
		if got := keys(gsi(t, tc.table, p, tc.index)["KeySchema"]); !slices.Equal(got, tc.indexKeys) {
			t.Errorf("%s: index %s KeySchema is %v, want %v (infra/dynamo's key design)", tc.table, tc.index, got, tc.indexKeys)
		}
		if got := attributeTypes(p); !mapsEqual(got, tc.types) {
			t.Errorf("%s: AttributeDefinitions are %v, want exactly %v (key attributes only, with the types the adapters write)", tc.table, got, tc.types)
		}
		if p["BillingMode"] != "PAY_PER_REQUEST" {
			t.Errorf("%s: BillingMode is %v, want PAY_PER_REQUEST for spiky event-driven traffic", tc.table, p["BillingMode"])
		}
	}

	stage := gsi(t, "WebhooksTable", table(t, "WebhooksTable"), dynamo.StageIndex)
	projType, _ := samtemplate.Lookup(stage, "Projection", "ProjectionType")
	nonKey, _ := samtemplate.Lookup(stage, "Projection", "NonKeyAttributes")
	if projType != "INCLUDE" {
		t.Errorf("WebhooksTable: index %s projects %v, want INCLUDE: signing secrets and URLs must never be copied into the index", dynamo.StageIndex, projType)
	}
	for _, secret := range []string{"secrets", "url"} {
		if slices.Contains(stringsOf(nonKey), secret) {
			t.Errorf("WebhooksTable: index %s projects %q: secrets must never sit in the index the router reads", dynamo.StageIndex, secret)
		}
	}
	for _, need := range []string{"tenant_id", "enabled"} {
		if !slices.Contains(stringsOf(nonKey), need) {
			t.Errorf("WebhooksTable: index %s does not project %q, which TargetsForStage reads", dynamo.StageIndex, need)
		}
	}
	if pitr, _ := samtemplate.Lookup(table(t, "WebhooksTable"), "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); pitr != true {
		t.Errorf("WebhooksTable: PointInTimeRecoveryEnabled is %v, want true: webhook configuration exists nowhere else", pitr)
	}

	ttl, _ := table(t, "AttemptsTable")["TimeToLiveSpecification"].(map[string]any)
	if ttl["AttributeName"] != "expires_at" || ttl["Enabled"] != true {
		t.Errorf("AttemptsTable: TimeToLiveSpecification is %v, want expires_at enabled (the attempt log writes expires_at in epoch seconds)", ttl)
	}

	env := func(fn, name string) string {
		target, _, _ := samtemplate.RefTarget(environment(t, fn)[name])
		return target
	}
	for _, c := range [][3]string{
		{"RouterFunction", lambdafn.EnvWebhooksTable, "WebhooksTable"},
		{"DeliveryFunction", lambdafn.EnvWebhooksTable, "WebhooksTable"},
		{"DeliveryFunction", lambdafn.EnvAttemptsTable, "AttemptsTable"},
		{"ApiFunction", lambdafn.EnvWebhooksTable, "WebhooksTable"},
		{"ApiFunction", lambdafn.EnvAttemptsTable, "AttemptsTable"},
	} {
		if got := env(c[0], c[1]); got != c[2] {
			t.Errorf("%s: %s references %q, want !Ref %s", c[0], c[1], got, c[2])
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// deadLetterQueues returns every queue that holds failures: redrive targets, EventBridge
// dead-letter targets and Lambda OnFailure destinations.
func deadLetterQueues(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{}
	add := func(v any) {
		if target, _, ok := samtemplate.RefTarget(v); ok {
			set[target] = true
		}
	}
	for _, r := range tpl(t).ResourcesOfType("AWS::SQS::Queue") {
		if v, ok := samtemplate.Lookup(r.Properties, "RedrivePolicy", "deadLetterTargetArn"); ok {
			add(v)
		}
	}
	for _, id := range functionIDs(t) {
		p := function(t, id)
		if v, ok := samtemplate.Lookup(p, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination"); ok {
			add(v)
		}
		events, _ := p["Events"].(map[string]any)
		for _, ev := range events {
			if v, ok := samtemplate.Lookup(ev, "Properties", "DeadLetterConfig", "Arn"); ok {
				add(v)
			}
		}
	}
	var out []string
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func TestAnAlarmWatchesEachDeadLetterQueue(t *testing.T) {
	t.Parallel()
	dlqs := deadLetterQueues(t)
	if len(dlqs) < 3 {
		t.Errorf("found dead-letter queues %v, want the delivery DLQ, the rule's DLQ and the router's OnFailure queue", dlqs)
	}
	alarms := tpl(t).ResourcesOfType("AWS::CloudWatch::Alarm")
	for _, dlq := range dlqs {
		var found []string
		for id, a := range alarms {
			p := a.Properties
			dims, _ := p["Dimensions"].([]any)
			watches := false
			for _, d := range dims {
				m, _ := d.(map[string]any)
				if target, _, _ := samtemplate.RefTarget(m["Value"]); m["Name"] == "QueueName" && target == dlq {
					watches = true
				}
			}
			if !watches || p["Namespace"] != "AWS/SQS" || p["MetricName"] != "ApproximateNumberOfMessagesVisible" {
				continue
			}
			found = append(found, id)
			threshold, _ := samtemplate.Int(p["Threshold"])
			period, _ := samtemplate.Int(p["Period"])
			evals, _ := samtemplate.Int(p["EvaluationPeriods"])
			op := p["ComparisonOperator"]
			if !(op == "GreaterThanOrEqualToThreshold" && threshold == 1 || op == "GreaterThanThreshold" && threshold == 0) {
				t.Errorf("alarm %s on %s: %v %v, want to fire on the first message (>= 1)", id, dlq, op, p["Threshold"])
			}
			if period*evals > 300 || period == 0 {
				t.Errorf("alarm %s on %s: Period %v x EvaluationPeriods %v, want at most 5 minutes", id, dlq, p["Period"], p["EvaluationPeriods"])
			}
			if _, ok := p["AlarmActions"]; !ok {
				t.Errorf("alarm %s on %s: no AlarmActions: nobody would be told", id, dlq)
			}
		}
		if len(found) == 0 {
			t.Errorf("no AWS::CloudWatch::Alarm watches ApproximateNumberOfMessagesVisible of %s: parked messages would go unnoticed until they expire", dlq)
		}
	}
}

// grant is one permission a function's policies give: an action pattern on a resource named
// by logical id, with "/index/<name>" for a DynamoDB index.
type grant struct{ action, resource string }

// policyGrants expands a function's permissions: the policy templates and inline statements of
// its Policies, or, for a function with a Role of its own, that role's inline policies.
func policyGrants(t *testing.T, fnID string) []grant {
	t.Helper()
	fn := function(t, fnID)
	if role, _, ok := samtemplate.RefTarget(fn["Role"]); ok {
		if _, hasPolicies := fn["Policies"]; hasPolicies {
			t.Errorf("%s has both a Role and Policies: SAM ignores Policies then", fnID)
		}
		r, exists := tpl(t).Resources()[role]
		if !exists || r.Type != "AWS::IAM::Role" {
			t.Fatalf("%s: Role %s is not an AWS::IAM::Role of the template", fnID, role)
		}
		var out []grant
		policies, _ := r.Properties["Policies"].([]any)
		for _, pol := range policies {
			doc, _ := samtemplate.Lookup(pol.(map[string]any), "PolicyDocument", "Statement")
			out = append(out, statementGrants(t, fnID, doc)...)
		}
		if _, managed := r.Properties["ManagedPolicyArns"]; managed {
			t.Errorf("%s: role %s attaches managed policies, whose grants this test cannot check", fnID, role)
		}
		return out
	}
	policies, _ := fn["Policies"].([]any)
	var out []grant
	for _, pol := range policies {
		m, ok := pol.(map[string]any)
		if !ok {
			t.Errorf("%s: policy %v is a managed policy name or ARN; Herald's functions use policy templates or inline statements only", fnID, pol)
			continue
		}
		for name, arg := range m {
			args, _ := arg.(map[string]any)
			switch name {
			case "SQSSendMessagePolicy":
				out = append(out, grant{"sqs:SendMessage*", resourceOf(t, fnID, args["QueueName"])})
			case "DynamoDBReadPolicy", "DynamoDBWritePolicy", "DynamoDBCrudPolicy":
				tbl := resourceOf(t, fnID, args["TableName"])
				for _, r := range []string{tbl, tbl + "/index/*"} {
					out = append(out, grant{"dynamodb:*", r})
				}
			case "Statement":
				out = append(out, statementGrants(t, fnID, arg)...)
			case "Version":
			default:
				t.Errorf("%s: policy template %s is not understood by this test; expand it in policyGrants", fnID, name)
			}
		}
	}
	return out
}

// resourceOf names the template resource a policy's Resource refers to.
func resourceOf(t *testing.T, fnID string, v any) string {
	t.Helper()
	if target, _, ok := samtemplate.RefTarget(v); ok {
		return target
	}
	if m, isMap := v.(map[string]any); isMap {
		sub, ok := m["Fn::Sub"].(string)
		if form, isList := m["Fn::Sub"].([]any); isList && len(form) == 2 {
			// [string, variables]: the variables keep their names here.
			sub, ok = form[0].(string)
		}
		if ok {
			return subVar.ReplaceAllStringFunc(sub, func(m string) string {
				name, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(m, "${"), "}"), ".")
				return name
			})
		}
	}
	if s, ok := v.(string); ok {
		return s
	}
	t.Errorf("%s: policy resource %v is not understood by this test", fnID, v)
	return fmt.Sprint(v)
}

// statementGrants expands a list of IAM statements.
func statementGrants(t *testing.T, fnID string, v any) []grant {
	t.Helper()
	var out []grant
	stmts, _ := v.([]any)
	for _, s := range stmts {
		st, _ := s.(map[string]any)
		if st["Effect"] != "Allow" {
			continue
		}
		var res []any
		if l, isList := st["Resource"].([]any); isList {
			res = l
		} else {
			res = []any{st["Resource"]}
		}
		for _, a := range stringsOf(st["Action"]) {
			for _, r := range res {
				out = append(out, grant{a, resourceOf(t, fnID, r)})
			}
		}
	}
	return out
}

func TestPoliciesGrantWhatTheAdaptersCall(t *testing.T) {
	t.Parallel()
	need := map[string][]grant{
		"RouterFunction": {
			{"dynamodb:Query", "WebhooksTable/index/" + dynamo.StageIndex},
			{"dynamodb:PutItem", "AttemptsTable"},
			{"sqs:SendMessageBatch", "DeliveryQueue"},
		},
		"ApiFunction": {
			{"dynamodb:GetItem", "WebhooksTable"},
			{"dynamodb:PutItem", "WebhooksTable"},
			{"dynamodb:UpdateItem", "WebhooksTable"},
			{"dynamodb:DeleteItem", "WebhooksTable"},
			{"dynamodb:Query", "WebhooksTable"},
			{"dynamodb:BatchGetItem", "WebhooksTable"},
			{"dynamodb:BatchWriteItem", "WebhooksTable"},
			{"dynamodb:Query", "AttemptsTable"},
			{"dynamodb:Query", "AttemptsTable/index/" + dynamo.DeliveryIndex},
			{"dynamodb:Query", "ActivityTable"},
			{"sqs:SendMessage", "DeliveryQueue"},
			{"sqs:SendMessageBatch", "DeliveryQueue"},
		},
		"DeliveryFunction": {
			{"dynamodb:BatchGetItem", "WebhooksTable"},
			{"dynamodb:UpdateItem", "WebhooksTable"},
			{"dynamodb:BatchWriteItem", "AttemptsTable"},
			{"sqs:ChangeMessageVisibility", "DeliveryQueue"},
			{"sqs:SendMessage", "DeliveryQueue"},
			{"sqs:SendMessage", "DeliveryDLQ"},
			// Lambda's event source mapping, under the function's role.
			{"sqs:ReceiveMessage", "DeliveryQueue"},
			{"sqs:DeleteMessage", "DeliveryQueue"},
			{"sqs:GetQueueAttributes", "DeliveryQueue"},
			{"logs:PutLogEvents", "DeliveryLogGroup"},
			{"dynamodb:Query", "AttemptsTable/index/" + dynamo.DeliveryIndex},
			{"dynamodb:PutItem", "AttemptsTable"},
			{"dynamodb:GetItem", "AttemptsTable"},
			{"dynamodb:DeleteItem", "AttemptsTable"},
		},
		"NotifyFunction": {
			{"dynamodb:Query", "WebhooksTable"},
			{"dynamodb:BatchGetItem", "WebhooksTable"},
			{"dynamodb:PutItem", "MailTable"},
			{"dynamodb:UpdateItem", "MailTable"},
			{"dynamodb:BatchWriteItem", "ActivityTable"},
			{"dynamodb:PutItem", "AttemptsTable"},
			{"sqs:SendMessageBatch", "DeliveryQueue"},
		},
		"DigestFunction": {
			{"dynamodb:Query", "WebhooksTable/index/" + dynamo.DigestsDueIndex},
			{"dynamodb:GetItem", "WebhooksTable"},
			{"dynamodb:BatchGetItem", "WebhooksTable"},
			{"dynamodb:UpdateItem", "WebhooksTable"},
			{"dynamodb:DeleteItem", "WebhooksTable"},
			{"dynamodb:Query", "ActivityTable"},
			{"dynamodb:GetItem", "AttemptsTable"},
			{"dynamodb:PutItem", "AttemptsTable"},
			{"dynamodb:DeleteItem", "AttemptsTable"},
			{"sqs:SendMessageBatch", "DeliveryQueue"},
			{"ses:SendEmail", "arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/MailFrom"},
		},
		"MailerFunction": {
			{"dynamodb:Query", "MailTable"},
			{"dynamodb:Query", "MailTable/index/pending"},
			{"dynamodb:UpdateItem", "MailTable"},
			{"ses:SendEmail", "arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/MailFrom"},
		},
	}
	for _, id := range functionIDs(t) {
		grants := policyGrants(t, id)
		for _, n := range need[id] {
			ok := slices.ContainsFunc(grants, func(g grant) bool {
				return matchWildcard(g.action, n.action) && matchWildcard(g.resource, n.resource)
			})
			if !ok {
				t.Errorf("%s: Policies do not grant %s on %s, which the function calls: it would fail with AccessDenied in AWS", id, n.action, n.resource)
			}
		}
		for _, g := range grants {
			// X-Ray's write actions have no resource-level permissions: "*" is their only form.
			if g.resource == "*" && strings.HasPrefix(g.action, "xray:Put") {
				continue
			}
			if g.resource == "*" || g.action == "*" || strings.HasSuffix(g.action, ":*") && g.action != "dynamodb:*" {
				t.Errorf("%s: grants %s on %s: least privilege names actions and resources", id, g.action, g.resource)
			}
		}
	}
	// The API reads the delivery log and never writes it: only the delivery function records
	// attempts, so no API bug or stolen token can forge or erase one.
	for _, g := range policyGrants(t, "ApiFunction") {
		if strings.HasPrefix(g.resource, "AttemptsTable") && g.action != "dynamodb:Query" {
			t.Errorf("ApiFunction: grants %s on %s; the delivery log needs only Query", g.action, g.resource)
		}
	}
	for _, g := range policyGrants(t, "RouterFunction") {
		if strings.HasPrefix(g.action, "dynamodb:") && g.resource == "WebhooksTable" {
			t.Errorf("RouterFunction: grants %s on the WebhooksTable base table, where signing secrets are; it needs only Query on index %s", g.action, dynamo.StageIndex)
		}
	}
}

// TestSlackSecretsReachOnlyTheAPIAndNeverEcho: the Slack app's client secret and state key
// come from NoEcho parameters (CloudFormation then masks them in stack descriptions and
// events), and only ApiFunction, which runs the OAuth flow, is given any Slack setting.
func TestSlackSecretsReachOnlyTheAPIAndNeverEcho(t *testing.T) {
	t.Parallel()
	slackEnv := []string{lambdafn.EnvSlackClientID, lambdafn.EnvSlackClientSecret, lambdafn.EnvSlackRedirectURL, lambdafn.EnvSlackStateKey}
	params := tpl(t).Parameters()
	env := environment(t, "ApiFunction")
	for _, name := range slackEnv {
		target, fn, ok := samtemplate.RefTarget(env[name])
		p, isParam := params[target]
		if !ok || fn != "Ref" || !isParam {
			t.Errorf("ApiFunction: %s is %v, want !Ref of a template parameter", name, env[name])
			continue
		}
		if def, _ := samtemplate.String(p.Default); !p.HasDefault || def != "" {
			t.Errorf("parameter %s: Default %v, want \"\" so that a deploy without Slack works (its routes answer 503)", target, p.Default)
		}
		secret := name == lambdafn.EnvSlackClientSecret || name == lambdafn.EnvSlackStateKey
		if noEcho, _ := p.Raw["NoEcho"].(bool); secret && !noEcho {
			t.Errorf("parameter %s feeds %s, a secret, but is not NoEcho", target, name)
		}
	}
	for _, id := range functionIDs(t) {
		if id == "ApiFunction" {
			continue
		}
		for _, name := range slackEnv {
			if _, ok := environment(t, id)[name]; ok {
				t.Errorf("%s sets %s: only the API runs the Slack OAuth flow", id, name)
			}
		}
	}
}
