// Package localrun is the composition root of Herald on one machine: the handlers Lambda runs
// on AWS, wired in one process to embedded parts (SQLite store and queues, a PutEvents
// endpoint, Lambda-like pollers, a scheduler). Everything it wires comes from template.yaml,
// the same description SAM deploys: the functions, their environment, their triggers, the
// queues and their redrive settings, so the two runtimes cannot drift apart.
package localrun

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/infra/console"
	"github.com/heraldhq/herald/infra/eventsource"
	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/idempotency"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
	"github.com/heraldhq/herald/infra/lambdafn/digestfn"
	"github.com/heraldhq/herald/infra/lambdafn/mailerfn"
	"github.com/heraldhq/herald/infra/lambdafn/notifyfn"
	"github.com/heraldhq/herald/infra/lambdafn/routerfn"
	"github.com/heraldhq/herald/infra/localbus"
	"github.com/heraldhq/herald/infra/localqueue"
	"github.com/heraldhq/herald/infra/localscheduler"
	"github.com/heraldhq/herald/infra/outboxmail"
	"github.com/heraldhq/herald/infra/samtemplate"
	"github.com/heraldhq/herald/infra/slackoauth"
	"github.com/heraldhq/herald/infra/sqlitedb"
	"github.com/heraldhq/herald/infra/sqlitestore"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/telemetry"
)

// Config is what the local runner is told by its command line.
type Config struct {
	// DataDir holds the SQLite database.
	DataDir string
	// Template is template.yaml, already loaded.
	Template *samtemplate.Template
	// EventsAddr is where the PutEvents endpoint listens, e.g. 127.0.0.1:4010.
	EventsAddr string
	// APIAddr is where the configuration API listens, e.g. 127.0.0.1:4012.
	APIAddr string
	// AllowLoopback lets deliveries reach 127.0.0.1 and ::1 (never private or metadata
	// addresses): for trying Herald against a receiver on the same machine.
	AllowLoopback bool
	// Slack is the Slack app the configuration API connects channels with; zero means none,
	// and the Slack OAuth routes answer 503. A StateKey may be left empty: one process is
	// the only one to see both legs of the flow, so a random key made at start serves
	// (flows under way when the process restarts fail and are started again). Its URL
	// fields point the flow at a stand-in of Slack.
	Slack lambdafn.SlackConfig
	// Mail is how notification emails leave this machine.
	Mail MailConfig
	// Synchronous is SQLite's durability setting (FULL or NORMAL).
	Synchronous string
	// Pollers is how many batches of each SQS-triggered function run at once, standing in
	// for Lambda's concurrent instances. Default 4.
	Pollers int
	// Env overrides the environment template.yaml gives the functions (e.g. a shorter
	// HERALD_RETRY_SCHEDULE for tests).
	Env map[string]string
	// Counter receives the functions' metrics; nil counts in memory only.
	Counter telemetry.Counter
	Logger  *slog.Logger
}

// MailConfig is the local mailer's settings; the template's mailer parameters (MailFrom,
// EmailSchedule) have no meaning on one machine.
type MailConfig struct {
	// From is the sender of every email; "Herald <herald@localhost>" when empty.
	From string
	// Interval is the send window, also under a minute (for tests and demos); the template's
	// EmailSchedule when zero.
	Interval time.Duration
	// SMTP is the relay emails go through; nil keeps them in <data dir>/mail/outbox as .eml
	// files.
	SMTP *outboxmail.SMTPConfig
	// DigestTick is how often the digest function runs, also under a minute (for tests); the
	// template's rate(1 minute) when zero.
	DigestTick time.Duration
}

// Herald is a running single-machine Herald.
type Herald struct {
	// EventsURL is the PutEvents endpoint, for `aws events put-events --endpoint-url`.
	EventsURL string
	// APIURL is the configuration API; callers authenticate with API keys (APIKeys).
	APIURL string
	// APIKeys stores the API keys of the configuration API.
	APIKeys *sqlitestore.APIKeys
	// Store is the configuration store and delivery log.
	Store *sqlitestore.Store
	// Counts are the functions' metrics since start.
	Counts *telemetry.Memory
	// Rules and Schedules are what was read from the template.
	Rules     []localbus.Rule
	Schedules []localscheduler.Schedule

	db     *sql.DB
	queues map[string]*localqueue.Queue
	slack  *sqlitestore.SlackChannels
	mail   *sqlitestore.MailLines
	// bus routes PutEvents by the template's rules; the delivery function publishes Herald's
	// own events on it.
	bus *localbus.Bus
	// limiter keeps rate-limited webhooks' slots; nil until the delivery function is wired.
	limiter *sqlitestore.RateLimiter
	// activity is what digests summarise; schedules says when they are due.
	activity  *sqlitestore.Activity
	inbound   *sqlitestore.Inbound
	schedules *sqlitestore.Schedules
	// digesters are the template's digest functions, whose schedule cfg.Mail.DigestTick
	// overrides.
	digesters map[string]bool
	// unsubscribeKey signs the links of emails; kept in the database so that links in
	// emails sent before a restart keep working.
	unsubscribeKey []byte
	// mailers are the template functions that send emails, whose schedules Mail.Interval
	// overrides.
	mailers     map[string]bool
	idempotency *sqlitestore.Idempotency
	server      *http.Server
	api         *http.Server
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	logger      *slog.Logger
	unlock      func()
}

// Function kinds Herald has, by the CodeUri folder of their main package. A template function
// whose code Herald does not know is an error at start rather than a silent gap.
const (
	codeRouter   = "functions/router"
	codeNotify   = "functions/notify"
	codeMailer   = "functions/mailer"
	codeDigest   = "functions/digest"
	codeDelivery = "functions/delivery"
	codeAPI      = "functions/api"
)

// invokeQueuePrefix names the durable queue holding a function's asynchronous invocations
// (what Lambda's internal event queue does for EventBridge targets).
const invokeQueuePrefix = "invoke:"

// Start opens the data directory, wires every function of the template and starts serving.
// It returns once everything listens; Close stops it.
func Start(ctx context.Context, cfg Config) (*Herald, error) {
	if cfg.Template == nil {
		return nil, errors.New("local runner: no template")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Pollers <= 0 {
		cfg.Pollers = 4
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	db, err := sqlitedb.Open(ctx, cfg.DataDir, sqlitedb.Options{Synchronous: cfg.Synchronous})
	if err != nil {
		unlock()
		return nil, err
	}
	h := &Herald{db: db, queues: map[string]*localqueue.Queue{}, Counts: telemetry.NewMemory(), logger: cfg.Logger, unlock: unlock}
	if err := h.wire(ctx, cfg); err != nil {
		h.cancelRun()
		db.Close()
		unlock()
		return nil, err
	}
	return h, nil
}

func (h *Herald) wire(ctx context.Context, cfg Config) error {
	counter := telemetry.Counter(h.Counts)
	if cfg.Counter != nil {
		counter = telemetry.Tee{h.Counts, cfg.Counter}
	}
	retention, err := attemptRetention(cfg)
	if err != nil {
		return err
	}
	store, err := sqlitestore.New(ctx, h.db, sqlitestore.Options{AttemptRetention: retention})
	if err != nil {
		return err
	}
	h.Store = store
	fires, err := sqlitestore.NewFireLog(ctx, h.db)
	if err != nil {
		return err
	}
	// The stores' prepared statements live as long as the database, which Close closes.
	if h.slack, err = sqlitestore.NewSlackChannels(ctx, h.db); err != nil {
		return err
	}
	if h.mail, err = sqlitestore.NewMailLines(ctx, h.db); err != nil {
		return err
	}
	if h.inbound, err = sqlitestore.NewInbound(ctx, h.db); err != nil {
		return err
	}
	if h.activity, err = sqlitestore.NewActivity(ctx, h.db); err != nil {
		return err
	}
	if h.schedules, err = sqlitestore.NewSchedules(ctx, h.db); err != nil {
		return err
	}
	if h.unsubscribeKey, err = sqlitestore.LocalSecret(ctx, h.db, "unsubscribe-key", 32); err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel

	if h.Rules, err = localbus.LoadRules(cfg.Template); err != nil {
		return fmt.Errorf("read EventBridge rules from the template: %w", err)
	}
	h.bus = localbus.New(h.Rules, sink{h}, localbus.Options{Logger: cfg.Logger, Counter: counter})

	functions := cfg.Template.ResourcesOfType("AWS::Serverless::Function")
	ids := make([]string, 0, len(functions))
	for id := range functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	invokers := map[string]eventsource.Handler{}
	for _, id := range ids {
		fn, err := h.wireFunction(ctx, runCtx, cfg, id, counter)
		if err != nil {
			return err
		}
		if fn != nil {
			invokers[id] = fn
		}
	}

	l, err := net.Listen("tcp", cfg.EventsAddr)
	if err != nil {
		return fmt.Errorf("listen for PutEvents on %s: %w", cfg.EventsAddr, err)
	}
	h.EventsURL = "http://" + l.Addr().String()
	h.server = newServer(h.bus, eventsLimits)
	h.goRun(func() {
		if err := h.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("PutEvents endpoint stopped", "error", err)
		}
	})

	if h.Schedules, err = localscheduler.Load(cfg.Template); err != nil {
		return fmt.Errorf("read schedules from the template: %w", err)
	}
	for i, sc := range h.Schedules {
		if h.mailers[sc.Function] && cfg.Mail.Interval > 0 {
			h.Schedules[i].Expression = localscheduler.Every(cfg.Mail.Interval)
		}
		if h.digesters[sc.Function] && cfg.Mail.DigestTick > 0 {
			h.Schedules[i].Expression = localscheduler.Every(cfg.Mail.DigestTick)
		}
	}
	sched := localscheduler.New(h.Schedules, func(ctx context.Context, function string, event []byte) error {
		return h.invokeAsync(ctx, function, event)
	}, localscheduler.Options{Logger: cfg.Logger, Fires: fires})
	h.goRun(func() { sched.Run(runCtx) })

	h.goRun(func() { h.housekeeping(runCtx) })
	return nil
}

// attemptRetention is the delivery function's AttemptRetention in the template (its
// HERALD_ATTEMPT_RETENTION, after cfg.Env), which DynamoDB's TTL applies on AWS.
func attemptRetention(cfg Config) (time.Duration, error) {
	for id := range cfg.Template.ResourcesOfType("AWS::Serverless::Function") {
		props, err := cfg.Template.FunctionProperties(id)
		if err != nil {
			return 0, err
		}
		if codeURI, _ := samtemplate.String(props["CodeUri"]); strings.TrimSuffix(codeURI, "/") != codeDelivery {
			continue
		}
		fnCfg, err := functionConfig(cfg.Template, props, cfg.Env)
		if err != nil {
			return 0, fmt.Errorf("function %s: %w", id, err)
		}
		return fnCfg.AttemptRetention, nil
	}
	return 0, nil
}

// wireFunction builds one template function's handler and starts what triggers it.
func (h *Herald) wireFunction(ctx, runCtx context.Context, cfg Config, id string, counter telemetry.Counter) (eventsource.Handler, error) {
	props, err := cfg.Template.FunctionProperties(id)
	if err != nil {
		return nil, err
	}
	codeURI, _ := samtemplate.String(props["CodeUri"])
	fnCfg, err := functionConfig(cfg.Template, props, cfg.Env)
	if err != nil {
		return nil, fmt.Errorf("function %s: %w", id, err)
	}
	fnCfg.AllowLoopback = cfg.AllowLoopback
	logger := cfg.Logger.With("function", id)

	switch strings.TrimSuffix(codeURI, "/") {
	case codeRouter:
		jobs, err := h.jobQueue(ctx, cfg.Template, fnCfg)
		if err != nil {
			return nil, err
		}
		router := routerfn.Over(fnCfg, routerfn.Ports{Targets: h.Store, Queue: jobs, Inbound: h.inbound}, counter, logger)
		handler := asyncHandler(router.Handle)
		if err := h.startInvokeQueue(ctx, runCtx, cfg, id, props, handler); err != nil {
			return nil, err
		}
		return handler, nil
	case codeNotify:
		jobs, err := h.jobQueue(ctx, cfg.Template, fnCfg)
		if err != nil {
			return nil, err
		}
		notifier := notifyfn.Over(notifyfn.Ports{Subscriptions: h.Store, Queue: jobs, Lines: h.mail, Activity: h.activity, Inbound: h.inbound}, counter, logger)
		handler := asyncHandler(notifier.Handle)
		if err := h.startInvokeQueue(ctx, runCtx, cfg, id, props, handler); err != nil {
			return nil, err
		}
		return handler, nil
	case codeDelivery:
		jobs, err := h.jobQueue(ctx, cfg.Template, fnCfg)
		if err != nil {
			return nil, err
		}
		var ordered delivery.RetryQueue
		if fnCfg.OrderedDeliveryQueueURL != "" {
			fifo, err := h.queue(ctx, cfg.Template, fnCfg.OrderedDeliveryQueueURL)
			if err != nil {
				return nil, err
			}
			ordered = fifo
		}
		claims, err := sqlitestore.NewIdempotency(ctx, h.db, deliveryfn.SlackPostLease)
		if err != nil {
			return nil, err
		}
		if h.limiter, err = sqlitestore.NewRateLimiter(ctx, h.db); err != nil {
			return nil, err
		}
		vars, _ := samtemplate.Lookup(props, "Environment", "Variables")
		busVar, _ := samtemplate.Lookup(vars, lambdafn.EnvEventBusName)
		busName, err := localbus.ResolveBus(cfg.Template, busVar)
		if err != nil {
			return nil, fmt.Errorf("function %s: %s: %w", id, lambdafn.EnvEventBusName, err)
		}
		d, err := deliveryfn.Over(fnCfg, deliveryfn.Ports{
			Endpoints: h.Store, SlackChannels: h.slack, Log: h.Store, Queue: jobs, SlackURLPrefix: cfg.Slack.WebhookURLPrefix,
			PostClaims: idempotency.PostClaims{Store: claims},
			Health:     h.Store, Notifications: h.Store, Lines: h.mail,
			Events: busPublisher{bus: h.bus, name: busName, logger: logger}, Limiter: h.limiter,
			OrderedQueue: ordered,
		}, counter, logger)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", id, err)
		}
		return d.Handle, h.startSQSSources(ctx, runCtx, cfg, id, props, d.Handle)
	case codeMailer:
		mailer, err := h.localMailer(cfg, props, counter, logger)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", id, err)
		}
		if h.mailers == nil {
			h.mailers = map[string]bool{}
		}
		h.mailers[id] = true
		handler := asyncHandler(mailer.Handle)
		if err := h.startInvokeQueue(ctx, runCtx, cfg, id, props, handler); err != nil {
			return nil, err
		}
		return handler, nil
	case codeDigest:
		jobs, err := h.jobQueue(ctx, cfg.Template, fnCfg)
		if err != nil {
			return nil, err
		}
		mailCfg, sender, err := h.localMail(cfg, props)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", id, err)
		}
		claims, err := sqlitestore.NewIdempotency(ctx, h.db, digestfn.ClaimLease)
		if err != nil {
			return nil, err
		}
		d, err := digestfn.Over(mailCfg, digestfn.Ports{
			Schedules: h.schedules, Notifications: h.Store, Activity: h.activity, Queue: jobs, Mail: sender, Claims: claims.KeepDoneFor(digestfn.SentMemory),
		}, counter, logger)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", id, err)
		}
		if h.digesters == nil {
			h.digesters = map[string]bool{}
		}
		h.digesters[id] = true
		handler := asyncHandler(d.Handle)
		if err := h.startInvokeQueue(ctx, runCtx, cfg, id, props, handler); err != nil {
			return nil, err
		}
		return handler, nil
	case codeAPI:
		return nil, h.serveAPI(ctx, cfg, fnCfg)
	default:
		return nil, fmt.Errorf("template function %s (CodeUri %q) has no handler in the local runner", id, codeURI)
	}
}

// localMailer builds the mailer over the embedded line store and the outbox, with the
// template's rate and the local interval.
func (h *Herald) localMailer(cfg Config, props map[string]any, counter telemetry.Counter, logger *slog.Logger) (*mailerfn.Handler, error) {
	mailCfg, sender, err := h.localMail(cfg, props)
	if err != nil {
		return nil, err
	}
	if cfg.Mail.Interval > 0 {
		mailCfg.Interval = cfg.Mail.Interval
	}
	return mailerfn.Over(mailCfg, mailerfn.Ports{Store: h.mail, Sender: sender}, counter, logger)
}

// localMail is how a function of the template sends email locally: the function's settings
// from the template, with the local sender address, the machine's own unsubscribe key, links
// to the local API, and the outbox (and SMTP relay, if set) as the sender.
func (h *Herald) localMail(cfg Config, props map[string]any) (lambdafn.MailConfig, *outboxmail.Sender, error) {
	env := functionEnv(cfg.Template, props, cfg.Env)
	mailCfg, err := lambdafn.LoadMailConfig(func(k string) string {
		switch k {
		case lambdafn.EnvMailFrom, lambdafn.EnvUnsubscribeKey, lambdafn.EnvPublicAPIURL:
			return "" // the template's are AWS's; set below
		}
		return env[k]
	})
	if err != nil {
		return lambdafn.MailConfig{}, nil, err
	}
	mailCfg.From = cmp.Or(cfg.Mail.From, "Herald <herald@localhost>")
	mailCfg.UnsubscribeKey = string(h.unsubscribeKey)
	mailCfg.PublicAPIURL = h.APIURL
	if mailCfg.PublicAPIURL == "" {
		mailCfg.PublicAPIURL = "http://" + cmp.Or(cfg.APIAddr, defaultAPIAddr)
	}
	sender, err := outboxmail.New(filepath.Join(cfg.DataDir, "mail"), outboxmail.Options{SMTP: cfg.Mail.SMTP})
	if err != nil {
		return lambdafn.MailConfig{}, nil, err
	}
	return mailCfg, sender, nil
}

// serveAPI serves the configuration API's handler on a local port, authenticating callers with
// API keys instead of API Gateway's JWT authorizer.
func (h *Herald) serveAPI(ctx context.Context, cfg Config, fnCfg lambdafn.Config) error {
	keys, err := sqlitestore.NewAPIKeys(ctx, h.db)
	if err != nil {
		return err
	}
	h.APIKeys = keys
	jobs, err := h.jobQueue(ctx, cfg.Template, fnCfg)
	if err != nil {
		return err
	}
	slackOAuth, err := localSlack(cfg.Slack, cfg.AllowLoopback)
	if err != nil {
		return err
	}
	idempotency, err := sqlitestore.NewIdempotency(ctx, h.db, httpapi.IdempotencyTTL)
	if err != nil {
		return err
	}
	h.idempotency = idempotency
	web, err := console.Handler(console.Config{})
	if err != nil {
		return err
	}
	api := httpapi.New(httpapi.Deps{
		Console:       web,
		SignIn:        keys,
		Inbound:       h.inbound,
		Idempotency:   idempotency,
		Auth:          httpapi.APIKeyAuthenticator{Keys: keys},
		Webhooks:      h.Store,
		Endpoints:     h.Store,
		Log:           h.Store,
		Notifications: h.Store,
		Slack:         h.slack,
		SlackOAuth:    slackOAuth,
		Jobs:          jobs,
		Unsubscribe:   mailbatch.Links{Key: h.unsubscribeKey},
		Activity:      h.activity,
		Digests:       h.schedules,
		URLs:          httpapi.URLPolicy{AllowInsecure: cfg.AllowLoopback, AllowLoopback: cfg.AllowLoopback},
		Logger:        cfg.Logger.With("function", "api"),
	})
	addr := cmp.Or(cfg.APIAddr, defaultAPIAddr)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the configuration API on %s: %w", addr, err)
	}
	h.APIURL = "http://" + l.Addr().String()
	h.api = newServer(api, apiLimits)
	h.goRun(func() {
		if err := h.api.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("configuration API stopped", "error", err)
		}
	})
	return nil
}

// serverLimits bound what one client can hold of a local server. Without ReadTimeout a client
// that sends its headers and then one body byte every few seconds keeps a connection and a
// goroutine forever (ReadHeaderTimeout stops at the headers), and enough such clients exhaust
// the process's file descriptors.
type serverLimits struct {
	// readHeader bounds the request line and headers: 10 s is far above what any client on
	// the same machine or network needs for a few hundred bytes.
	readHeader time.Duration
	// read bounds the whole request, headers and body, from its first byte; sized per server
	// from its largest body.
	read time.Duration
	// write bounds a request from the end of its headers to the end of its response, so it
	// must be above read. 2 min is four times API Gateway's 30 s request limit, which every
	// API handler is written to fit (delivery.MaxRecover, the 10 s Slack calls), so it only
	// cuts off a client that stopped reading a response; a handler cut off would leave the
	// client without an answer to work it already did.
	write time.Duration
	// idle keeps a keep-alive connection between requests. 2 min is above the 90 s after
	// which Go's http.DefaultTransport and the AWS SDK for Go drop an idle connection, so the
	// client closes first and does not send a request into a connection the server is closing.
	idle time.Duration
	// maxHeaderBytes caps the request headers: SigV4 with an STS session token is about 2 KiB
	// and an API key far less. 64 KiB is what an AWS Application Load Balancer accepts; Go's
	// 1 MiB default lets every connection make the server read and parse a megabyte.
	maxHeaderBytes int
}

var (
	// apiLimits: API bodies are at most 64 KiB (httpapi's cap); 30 s to send one is 18 kbit/s,
	// and is the whole budget API Gateway gives a request on AWS.
	apiLimits = serverLimits{readHeader: 10 * time.Second, read: 30 * time.Second, write: 2 * time.Minute, idle: 2 * time.Minute, maxHeaderBytes: 64 << 10}
	// eventsLimits: a PutEvents body is at most 4 MiB (localbus.DefaultMaxRequestBytes, the
	// 1 MB of entries EventBridge takes, JSON-escaped); 60 s to send one is 560 kbit/s, which
	// any link meets, and the AWS CLI on loopback takes milliseconds.
	eventsLimits = serverLimits{readHeader: 10 * time.Second, read: time.Minute, write: 2 * time.Minute, idle: 2 * time.Minute, maxHeaderBytes: 64 << 10}
)

// newServer returns an http.Server for handler with lim's time-outs and header cap.
func newServer(handler http.Handler, lim serverLimits) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeaderBytes,
	}
}

// localSlack builds the API's Slack flow from the runner's settings, with a random state key
// when none is given; nil when Slack is not configured.
func localSlack(c lambdafn.SlackConfig, allowLoopback bool) (httpapi.SlackOAuth, error) {
	if !c.Configured() {
		return nil, nil
	}
	if c.StateKey == "" {
		key := make([]byte, slackoauth.MinStateKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("make a slack state key: %w", err)
		}
		c.StateKey = string(key)
	}
	flow, err := apifn.SlackFlow(c, allowLoopback)
	if err != nil {
		return nil, err
	}
	return flow, nil
}

// defaultAPIAddr is where the configuration API listens unless told otherwise.
const defaultAPIAddr = "127.0.0.1:4012"

// functionConfig is the function's configuration from functionEnv.
func functionConfig(t *samtemplate.Template, props map[string]any, overrides map[string]string) (lambdafn.Config, error) {
	env := functionEnv(t, props, overrides)
	return lambdafn.LoadConfig(func(k string) string { return env[k] })
}

// functionEnv is the function's environment as template.yaml sets it: literals as written,
// parameters at their defaults, and each resource reference as the resource's logical ID, which
// is the name of the local queue or table standing in for it.
func functionEnv(t *samtemplate.Template, props map[string]any, overrides map[string]string) map[string]string {
	vars, _ := samtemplate.Lookup(props, "Environment", "Variables")
	env := map[string]string{}
	if m, ok := vars.(map[string]any); ok {
		params := t.Parameters()
		for k, v := range m {
			if target, kind, ok := samtemplate.RefTarget(v); ok {
				if p, isParam := params[target]; isParam && kind == "Ref" {
					env[k] = fmt.Sprint(p.Default)
				} else {
					env[k] = target
				}
				continue
			}
			env[k] = fmt.Sprint(v)
		}
	}
	for k, v := range overrides {
		env[k] = v
	}
	return env
}

// queue opens the local stand-in of the template's SQS queue logicalID, with its visibility
// timeout and redrive policy.
func (h *Herald) queue(ctx context.Context, t *samtemplate.Template, logicalID string) (*localqueue.Queue, error) {
	if q, ok := h.queues[logicalID]; ok {
		return q, nil
	}
	r, ok := t.Resources()[logicalID]
	if !ok || r.Type != "AWS::SQS::Queue" {
		return nil, fmt.Errorf("template has no SQS queue %s", logicalID)
	}
	opts := localqueue.Options{}
	if v, ok := samtemplate.Int(r.Properties["VisibilityTimeout"]); ok {
		opts.VisibilityTimeout = time.Duration(v) * time.Second
	}
	if v, ok := samtemplate.Int(r.Properties["MessageRetentionPeriod"]); ok {
		opts.Retention = time.Duration(v) * time.Second
	}
	opts.FIFO, _ = r.Properties["FifoQueue"].(bool)
	if redrive, ok := r.Properties["RedrivePolicy"].(map[string]any); ok {
		if target, _, ok := samtemplate.RefTarget(redrive["deadLetterTargetArn"]); ok {
			if _, err := h.queue(ctx, t, target); err != nil {
				return nil, err
			}
			opts.DeadLetter = target
		}
		if n, ok := samtemplate.Int(redrive["maxReceiveCount"]); ok {
			opts.MaxReceiveCount = n
		}
	}
	q, err := h.openQueue(ctx, logicalID, opts)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// jobQueue is the queue a function sends delivery jobs to: the template's delivery queue,
// which routes ordered webhooks' jobs to the FIFO queue when the function has one.
func (h *Herald) jobQueue(ctx context.Context, t *samtemplate.Template, fnCfg lambdafn.Config) (*localqueue.Queue, error) {
	jobs, err := h.queue(ctx, t, fnCfg.DeliveryQueueURL)
	if err != nil || fnCfg.OrderedDeliveryQueueURL == "" {
		return jobs, err
	}
	ordered, err := h.queue(ctx, t, fnCfg.OrderedDeliveryQueueURL)
	if err != nil {
		return nil, err
	}
	return jobs.WithOrdered(ordered), nil
}

// functionTimeout is the function's Timeout, Lambda's 3 s default when the template sets none:
// each local invocation gets that long, as on Lambda.
func functionTimeout(props map[string]any) time.Duration {
	if v, ok := samtemplate.Int(props["Timeout"]); ok && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 3 * time.Second
}

// startSQSSources starts, for each SQS event of the function, pollers that do what Lambda's
// event source mapping does.
func (h *Herald) startSQSSources(ctx, runCtx context.Context, cfg Config, id string, props map[string]any, handler eventsource.Handler) error {
	events, _ := props["Events"].(map[string]any)
	for name, ev := range events {
		e, _ := ev.(map[string]any)
		if e["Type"] != "SQS" {
			continue
		}
		ep, _ := e["Properties"].(map[string]any)
		queueID, _, ok := samtemplate.RefTarget(ep["Queue"])
		if !ok {
			return fmt.Errorf("function %s event %s: Queue is not a reference to a template queue", id, name)
		}
		q, err := h.queue(ctx, cfg.Template, queueID)
		if err != nil {
			return fmt.Errorf("function %s event %s: %w", id, name, err)
		}
		batch, _ := samtemplate.Int(ep["BatchSize"])
		for range cfg.Pollers {
			p := &eventsource.Poller{Source: q, QueueARN: "local:" + queueID, Handler: handler, BatchSize: batch,
				WaitTime: 20 * time.Second, Timeout: functionTimeout(props), Logger: cfg.Logger.With("function", id, "queue", queueID)}
			h.goRun(func() { p.Run(runCtx) })
		}
	}
	return nil
}

// startInvokeQueue gives an EventBridge-triggered function what Lambda gives it on AWS: a
// durable queue of asynchronous invocations, retried twice after a failure and then parked in
// the function's OnFailure destination.
func (h *Herald) startInvokeQueue(ctx, runCtx context.Context, cfg Config, id string, props map[string]any, handler eventsource.Handler) error {
	opts := localqueue.Options{VisibilityTimeout: time.Minute, MaxReceiveCount: 3}
	if n, ok := samtemplate.Int(mustLookup(props, "EventInvokeConfig", "MaximumRetryAttempts")); ok {
		opts.MaxReceiveCount = n + 1
	}
	if dest, _, ok := samtemplate.RefTarget(mustLookup(props, "EventInvokeConfig", "DestinationConfig", "OnFailure", "Destination")); ok {
		if _, err := h.queue(ctx, cfg.Template, dest); err != nil {
			return fmt.Errorf("function %s failure destination: %w", id, err)
		}
		opts.DeadLetter = dest
	} else {
		// Lambda would discard such an event after its retries; here it is parked instead, so
		// that nothing accepted is ever dropped without a trace.
		failed, err := h.openQueue(ctx, invokeQueuePrefix+id+":failed", localqueue.Options{})
		if err != nil {
			return err
		}
		opts.DeadLetter = failed.Name()
	}
	q, err := h.openQueue(ctx, invokeQueuePrefix+id, opts)
	if err != nil {
		return err
	}
	for range cfg.Pollers {
		p := &eventsource.Poller{Source: q, QueueARN: "local:" + invokeQueuePrefix + id, Handler: handler, BatchSize: 10,
			WaitTime: 20 * time.Second, Timeout: functionTimeout(props), Logger: cfg.Logger.With("function", id)}
		h.goRun(func() { p.Run(runCtx) })
	}
	return nil
}

// openQueue opens a local queue and hands back at once whatever a previous process had
// received from it without finishing: this process owns the data directory (see lockDataDir),
// so nobody else is working on those messages.
func (h *Herald) openQueue(ctx context.Context, name string, opts localqueue.Options) (*localqueue.Queue, error) {
	q, err := localqueue.New(ctx, h.db, name, opts)
	if err != nil {
		return nil, fmt.Errorf("open local queue %s: %w", name, err)
	}
	n, err := q.ReleaseInFlight(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		h.logger.Info("released messages left in flight by the previous run", "queue", name, "count", n)
	}
	h.queues[name] = q
	return q, nil
}

func mustLookup(v any, path ...string) any {
	out, _ := samtemplate.Lookup(v, path...)
	return out
}

// invokeAsync queues one event for a function, durably, as Lambda's asynchronous invoke does.
func (h *Herald) invokeAsync(ctx context.Context, function string, event []byte) error {
	return sink{h}.Accept(ctx, []localbus.Invocation{{Function: function, Event: event}})
}

// busPublisher publishes Herald's own events on the embedded bus, where the template's rules
// route them (none does today), and logs each: on one machine the log is where an operator
// sees them.
type busPublisher struct {
	bus    *localbus.Bus
	name   string
	logger *slog.Logger
}

func (p busPublisher) Publish(ctx context.Context, detailType string, detail []byte) error {
	if err := p.bus.Publish(ctx, p.name, operational.Source, detailType, detail); err != nil {
		return err
	}
	p.logger.Warn("published "+detailType, "event_bus", p.name, "detail", string(detail))
	return nil
}

// sink is the bus's durable hand-over: an event is accepted once it is committed to its
// function's invocation queue.
type sink struct{ h *Herald }

func (s sink) Accept(ctx context.Context, invocations []localbus.Invocation) error {
	byFunction := map[string][]localqueue.Outgoing{}
	for _, inv := range invocations {
		byFunction[inv.Function] = append(byFunction[inv.Function], localqueue.Outgoing{Body: inv.Event})
	}
	// One transaction for every function's invocations: all are accepted or none, and with
	// synchronous=FULL an event the router and the notifier both take costs one sync, not two.
	sends := make([]localqueue.Sending, 0, len(byFunction))
	for fn, msgs := range byFunction {
		q, ok := s.h.queues[invokeQueuePrefix+fn]
		if !ok {
			return fmt.Errorf("no function %s takes asynchronous invocations", fn)
		}
		sends = append(sends, localqueue.Sending{Queue: q, Msgs: msgs})
	}
	if err := localqueue.SendAll(ctx, sends); err != nil {
		return fmt.Errorf("queue %d invocations: %w", len(invocations), err)
	}
	return nil
}

// housekeepingInterval bounds how long an expired attempt, message or Idempotency-Key record
// outlives its retention, as DynamoDB's TTL and SQS's retention do on AWS (within about a day
// and a minute respectively).
const housekeepingInterval = 10 * time.Minute

// housekeeping deletes what has outlived its retention and gives the freed pages back to the
// file system, so that the database stays the size of what is kept (BenchmarkDatabaseGrowth).
func (h *Herald) housekeeping(ctx context.Context) {
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		h.expireAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Herald) expireAll(ctx context.Context) {
	warn := func(what string, err error) {
		if ctx.Err() == nil {
			h.logger.Warn(what, "error", err)
		}
	}
	if n, err := h.Store.Sweep(ctx, time.Now()); err != nil {
		warn("sweep expired delivery attempts", err)
	} else if n > 0 {
		h.logger.Info("swept expired delivery attempts", "count", n)
	}
	for name, q := range h.queues {
		if n, err := q.Expire(ctx); err != nil {
			warn("expire queue messages", err)
		} else if n > 0 {
			h.logger.Warn("messages expired before they were handled (the queue's MessageRetentionPeriod)", "queue", name, "count", n)
		}
	}
	if h.idempotency != nil {
		if _, err := h.idempotency.Expire(ctx); err != nil {
			warn("expire Idempotency-Key records", err)
		}
	}
	if _, err := h.mail.Expire(ctx, time.Now()); err != nil {
		warn("expire sent email lines", err)
	}
	if _, err := h.activity.Expire(ctx, time.Now()); err != nil {
		warn("expire digest activity", err)
	}
	if _, err := h.inbound.Expire(ctx, time.Now()); err != nil {
		warn("expire inbound event records", err)
	}
	if h.limiter != nil {
		if _, err := h.limiter.Expire(ctx, time.Now()); err != nil {
			warn("expire rate-limit slots", err)
		}
	}
	for range 16 { // up to 256 MiB of free pages per round; the next round takes the rest
		if err := sqlitedb.Reclaim(ctx, h.db); err != nil {
			warn("reclaim free database pages", err)
			return
		}
	}
}

func (h *Herald) goRun(f func()) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f()
	}()
}

// Close stops accepting events and taking new batches, lets the batches in flight finish (each
// within its function's timeout, all within ctx's deadline: their attempts complete and are
// recorded, none is cut short and counted against its receiver) and closes the database.
// Anything not finished is still in its queue for the next start.
func (h *Herald) Close(ctx context.Context) error {
	var errs []error
	for _, srv := range []*http.Server{h.server, h.api} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	h.cancel()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stop pollers: %w", ctx.Err()))
	}
	errs = append(errs, h.db.Close())
	h.unlock()
	return errors.Join(errs...)
}

// cancelRun stops whatever wire started before it failed.
func (h *Herald) cancelRun() {
	if h.cancel != nil {
		h.cancel()
	}
	for _, srv := range []*http.Server{h.server, h.api} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	h.wg.Wait()
}
