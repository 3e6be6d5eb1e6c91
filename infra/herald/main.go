// Command herald runs Herald on one machine, with no AWS account: the same handlers as on
// Lambda, over an embedded SQLite store and queues, with a PutEvents endpoint that the AWS CLI
// and SDKs publish to unchanged. `go install ./infra/herald` from the checkout installs
// it as herald.
//
//	go run ./infra/herald -demo               # start, with a demo webhook and receiver
//	go run ./infra/herald apikey-create       # an API key for the configuration API
//	go run ./infra/herald signin-link         # a one-time sign-in link to the console
//	go run ./infra/herald webhook-add ...     # a stage webhook without the API
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/localrun"
	"github.com/heraldhq/herald/infra/outboxmail"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
)

// defaultTenant is the tenant the demo's webhooks, webhook-add and apikey-create use unless told
// otherwise, and the one the sample events in events/samples name: one tenant everywhere, so
// that what one command makes the others see.
const defaultTenant = "acme"

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "herald:", err)
		fmt.Fprintf(os.Stderr, "run %s -h for the commands and their flags\n", command())
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

// usageError is a command line Herald does not understand.
type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "webhook-add":
			return addWebhook(ctx, args[1:], getenv, out)
		case "apikey-create":
			return createAPIKey(ctx, args[1:], getenv, out)
		case "signin-link":
			return signInLink(ctx, args[1:], getenv, out)
		case "help":
			return serve(ctx, []string{"-h"}, getenv, out)
		}
		if !strings.HasPrefix(args[0], "-") {
			return usageError(fmt.Sprintf("unknown command %q: the commands are webhook-add, apikey-create and signin-link, or none to start Herald", args[0]))
		}
	}
	return serve(ctx, args, getenv, out)
}

// command is how the user started this program, for hints they can paste: "herald" when it is
// installed, "go run ./infra/herald" under go run (whose binary lives in a temporary folder).
func command() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./infra/herald"
	}
	return filepath.Base(os.Args[0])
}

// newFlagSet returns a flag set that prints its usage to out and returns errors instead of
// exiting, with the commands listed above the flags.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: %s\n\n", synopsis)
		if name == "herald" {
			fmt.Fprintf(out, "commands:\n  (none)          start Herald: PutEvents endpoint, configuration API, delivery\n"+
				"  apikey-create   create an API key for the configuration API (printed once)\n"+
				"  signin-link     print a one-time link that signs the browser in to the console\n"+
				"  webhook-add     add a stage webhook without the API (prints its secret once)\n"+
				"  help            this text\n\nRun %s <command> -h for a command's flags.\n\nflags:\n", command())
		} else {
			fmt.Fprintf(out, "flags:\n")
		}
		fs.PrintDefaults()
	}
	return fs
}

// noArgs refuses what is left on a command line after its flags.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0)))
	}
	return nil
}

// settings are the flags both subcommands share; each defaults to its environment variable.
type settings struct {
	dataDir     string
	template    string
	synchronous string
}

func (s *settings) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&s.dataDir, "data-dir", envOr(getenv, "HERALD_DATA_DIR", ".herald"), "directory of the SQLite database (env HERALD_DATA_DIR)")
	fs.StringVar(&s.template, "template", getenv("HERALD_TEMPLATE"), "path of template.yaml (env HERALD_TEMPLATE; default: the module root's)")
	// NORMAL by default: in WAL mode a commit is durable against a crash or kill of the
	// process (the kill-and-restart test proves it), and syncing every commit (FULL) cut the
	// sustained rate on a 2-core VM from over 500 to about 430 events/s. FULL is there for a
	// machine whose power may fail under it.
	fs.StringVar(&s.synchronous, "synchronous", envOr(getenv, "HERALD_SQLITE_SYNCHRONOUS", "NORMAL"), "SQLite durability: NORMAL survives a killed process, FULL also a power cut (writes are group-committed, so it still sustains about 700 events/s on 2 cores) (env HERALD_SQLITE_SYNCHRONOUS)")
}

func (s *settings) loadTemplate() (*samtemplate.Template, error) {
	if s.template != "" {
		return samtemplate.Load(s.template)
	}
	t, err := samtemplate.LoadRoot()
	if err != nil {
		return nil, fmt.Errorf("%w (run from the Herald checkout or pass -template)", err)
	}
	return t, nil
}

func envOr(getenv func(string) string, key, dflt string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return dflt
}

func serve(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlagSet("herald", command()+" [flags] | "+command()+" <command> [flags]", out)
	var s settings
	s.register(fs, getenv)
	eventsAddr := fs.String("events-addr", envOr(getenv, "HERALD_EVENTS_ADDR", "127.0.0.1:4010"), "PutEvents endpoint address (env HERALD_EVENTS_ADDR)")
	apiAddr := fs.String("api-addr", envOr(getenv, "HERALD_API_ADDR", "127.0.0.1:4012"), "configuration API address (env HERALD_API_ADDR)")
	allowLoopback := fs.Bool("allow-loopback", getenv("HERALD_ALLOW_LOOPBACK") == "true", "let webhooks reach 127.0.0.1/::1 (env HERALD_ALLOW_LOOPBACK); private and metadata addresses stay refused")
	retrySchedule := fs.String("retry-schedule", getenv("HERALD_RETRY_SCHEDULE"), "override the template's retry schedule, e.g. 1s,5s (env HERALD_RETRY_SCHEDULE)")
	pollers := fs.Int("pollers", 4, "concurrent batches per queue-triggered function")
	demo := fs.Bool("demo", false, "configure webhooks on the sample project and print what they receive (implies -allow-loopback)")
	demoAddr := fs.String("demo-receiver-addr", "127.0.0.1:4011", "where the -demo receiver listens")
	verbose := fs.Bool("v", false, "log every delivery")
	emailInterval := fs.String("email-interval", envOr(getenv, "HERALD_EMAIL_INTERVAL", "5m"), "how often notification emails go out, one per recipient, e.g. 5m or 10s (env HERALD_EMAIL_INTERVAL)")
	mailFrom := fs.String("mail-from", envOr(getenv, "HERALD_MAIL_FROM", "Herald <herald@localhost>"), "sender of notification emails (env HERALD_MAIL_FROM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	tmpl, err := s.loadTemplate()
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	env := map[string]string{}
	if *retrySchedule != "" {
		env["HERALD_RETRY_SCHEDULE"] = *retrySchedule
	}

	interval, err := lambdafn.ParseInterval(*emailInterval)
	if err != nil {
		return usageError("-email-interval: " + err.Error())
	}
	smtp, err := smtpFromEnv(getenv)
	if err != nil {
		return err
	}

	// The Slack app, from the same HERALD_SLACK_* variables the API function reads on AWS.
	slackCfg, err := lambdafn.LoadSlackConfig(getenv)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := localrun.Start(ctx, localrun.Config{
		DataDir: s.dataDir, Template: tmpl, EventsAddr: *eventsAddr, APIAddr: *apiAddr, AllowLoopback: *allowLoopback || *demo,
		Synchronous: s.synchronous, Pollers: *pollers, Env: env, Logger: logger, Slack: slackCfg,
		Mail: localrun.MailConfig{From: *mailFrom, Interval: interval, SMTP: smtp},
	})
	if err != nil {
		return err
	}
	var demoInfo string
	if *demo {
		if demoInfo, err = startDemo(ctx, h, *demoAddr, out); err != nil {
			_ = h.Close(context.Background())
			return err
		}
		if h.APIURL != "" {
			link, err := consoleLink(ctx, h.APIKeys, h.APIURL, demoTenant, "local-admin")
			if err != nil {
				_ = h.Close(context.Background())
				return err
			}
			demoInfo = fmt.Sprintf("  console sign-in     %s  (works once, within %s; another: %s signin-link)\n", link, sqlitestore.SignInCodeTTL, command()) + demoInfo
		}
	}
	printBanner(out, h, s, tmpl.Path, demoInfo)
	<-ctx.Done()
	fmt.Fprintln(out, "herald: stopping; unfinished work stays queued for the next start")
	closeCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.Close(closeCtx)
}

func printBanner(out io.Writer, h *localrun.Herald, s settings, templatePath, demoInfo string) {
	abs, _ := filepath.Abs(s.dataDir)
	fmt.Fprintf(out, "Herald is running on this machine (embedded mode).\n")
	fmt.Fprintf(out, "  PutEvents endpoint  %s   (AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws events put-events --region us-east-1 --endpoint-url %s --entries ...)\n", h.EventsURL, h.EventsURL)
	if h.APIURL != "" {
		fmt.Fprintf(out, "  configuration API   %s   (OpenAPI at %s/openapi.json; an API key: %s apikey-create)\n", h.APIURL, h.APIURL, command())
		fmt.Fprintf(out, "  console             %s/   (sign in with an API key, or a link from %s signin-link)\n", h.APIURL, command())
	}
	fmt.Fprintf(out, "  data                %s (SQLite, synchronous=%s)\n", filepath.Join(abs, "herald.db"), s.synchronous)
	fmt.Fprintf(out, "  emails              %s (one .eml per email; set HERALD_SMTP_HOST to relay them)\n", filepath.Join(abs, "mail", "outbox"))
	fmt.Fprintf(out, "  template            %s\n", templatePath)
	for _, r := range h.Rules {
		fmt.Fprintf(out, "  rule                %s: bus %q -> %s\n", r.Name, r.Bus, r.Function)
	}
	for _, sc := range h.Schedules {
		fmt.Fprintf(out, "  schedule            %s\n", sc.String())
	}
	if demoInfo != "" {
		fmt.Fprint(out, demoInfo)
	}
	fmt.Fprintf(out, "Stop with Ctrl-C.\n")
}

func addWebhook(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlagSet("webhook-add", command()+" webhook-add -project HASH -stage UUID -type annotate -url URL [flags]", out)
	var s settings
	s.register(fs, getenv)
	tenant := fs.String("tenant", defaultTenant, "tenant (organisation) the webhook belongs to")
	owner := fs.String("owner", "local-admin", "user who owns the webhook")
	project := fs.String("project", "", "project hash, from the annotation platform's project (required)")
	stage := fs.String("stage", "", "UUID of the workflow stage, from the project's workflow (required)")
	stageType := fs.String("type", "", "stage type, annotate or complete (required)")
	url := fs.String("url", "", "receiver URL (required)")
	allowLoopback := fs.Bool("allow-loopback", getenv("HERALD_ALLOW_LOOPBACK") == "true", "accept http:// and loopback URLs, for a receiver on this machine, as the API does under the same flag (env HERALD_ALLOW_LOOPBACK)")
	ordered := fs.Bool("ordered", false, "deliver the webhook's events in the order Herald accepted them, one at a time: a failing delivery holds back the later ones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	w, err := createWebhook(ctx, s, webhookSpec{
		tenant: *tenant, owner: *owner, project: *project, stage: *stage, stageType: *stageType, url: *url, allowLoopback: *allowLoopback, ordered: *ordered,
	})
	if err != nil {
		return err
	}
	inOrder := ""
	if w.Ordered {
		inOrder = ", in order"
	}
	fmt.Fprintf(out, "webhook %s created on project %s stage %s (%s) -> %s%s\n", w.ID, w.ProjectHash, w.StageUUID, w.StageType, w.URL, inOrder)
	fmt.Fprintf(out, "signing secret (shown once): %s\n", w.Secrets[0])
	return nil
}

func createAPIKey(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlagSet("apikey-create", command()+" apikey-create [flags]", out)
	var s settings
	s.register(fs, getenv)
	tenant := fs.String("tenant", defaultTenant, "tenant (organisation) the key acts for")
	user := fs.String("user", "local-admin", "user the key acts as")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	plaintext, key, err := httpapi.NewAPIKey(*tenant, *user, time.Now())
	if err != nil {
		return err
	}
	keys, closeDB, err := openAPIKeys(ctx, s)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := keys.CreateAPIKey(ctx, key); err != nil {
		return err
	}
	fmt.Fprintf(out, "API key for tenant %s, user %s (shown once; only its hash is stored):\n%s\n", *tenant, *user, plaintext)
	return nil
}

func signInLink(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := newFlagSet("signin-link", command()+" signin-link [flags]", out)
	var s settings
	s.register(fs, getenv)
	tenant := fs.String("tenant", defaultTenant, "tenant (organisation) to sign in to")
	user := fs.String("user", "local-admin", "user to sign in as")
	apiAddr := fs.String("api-addr", envOr(getenv, "HERALD_API_ADDR", "127.0.0.1:4012"), "address the running Herald serves its API and console on (env HERALD_API_ADDR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	keys, closeDB, err := openAPIKeys(ctx, s)
	if err != nil {
		return err
	}
	defer closeDB()
	link, err := consoleLink(ctx, keys, "http://"+*apiAddr, *tenant, *user)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Open this link to sign in to the console as %s of tenant %s (it works once, within %s):\n%s\n", *user, *tenant, sqlitestore.SignInCodeTTL, link)
	return nil
}

// openAPIKeys opens the API keys of the data directory, beside a Herald that may be running
// on it.
func openAPIKeys(ctx context.Context, s settings) (*sqlitestore.APIKeys, func(), error) {
	db, err := sqlitedb.Open(ctx, s.dataDir, sqlitedb.Options{Synchronous: s.synchronous})
	if err != nil {
		return nil, nil, err
	}
	keys, err := sqlitestore.NewAPIKeys(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return keys, func() { db.Close() }, nil
}

// consoleLink makes a one-time sign-in link to the console at apiURL.
func consoleLink(ctx context.Context, keys *sqlitestore.APIKeys, apiURL, tenant, user string) (string, error) {
	code, err := keys.CreateSignInCode(ctx, tenant, user, time.Now())
	if err != nil {
		return "", err
	}
	// In the fragment, which the browser never sends: the code stays out of access logs.
	return apiURL + "/#sign-in=" + code, nil
}

// smtpFromEnv reads the SMTP relay of notification emails from HERALD_SMTP_HOST, _PORT,
// _USERNAME, _PASSWORD and _TLS (starttls, tls or none); nil without a host.
func smtpFromEnv(getenv func(string) string) (*outboxmail.SMTPConfig, error) {
	host := getenv("HERALD_SMTP_HOST")
	if host == "" {
		return nil, nil
	}
	c := &outboxmail.SMTPConfig{Host: host, Username: getenv("HERALD_SMTP_USERNAME"), Password: getenv("HERALD_SMTP_PASSWORD"), TLS: getenv("HERALD_SMTP_TLS")}
	if p := getenv("HERALD_SMTP_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, usageError(fmt.Sprintf("HERALD_SMTP_PORT: %q is not a port", p))
		}
		c.Port = n
	}
	return c, nil
}
