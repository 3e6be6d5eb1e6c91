// Package apifn is the configuration API function: API Gateway's HTTP API hands it each request
// with the claims its JWT authorizer verified, and it serves the configuration API
// (infra/httpapi) over DynamoDB and SQS. Its own package so that the API's dependencies (the
// HTTP router, Slack's client) stay out of the other functions' bootstraps.
package apifn

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/infra/console"
	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/infra/httpapi"
	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/slackoauth"
	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/outbound"
)

// Option adds an optional part to the configuration API.
type Option func(*apiOptions)

type apiOptions struct {
	console        console.OIDC
	slack          lambdafn.SlackConfig
	unsubscribeKey string
	urls           *httpapi.URLPolicy
}

// WithURLPolicy replaces the policy for webhook URLs the API accepts, which by default follows
// HERALD_ALLOW_LOOPBACK as deliveries do (template.yaml never sets it, so deployed, only https
// to public addresses). Tests of the deployed behaviour use it to keep the default policy while
// the Slack stand-in they reach sits on loopback.
func WithURLPolicy(p httpapi.URLPolicy) Option {
	return func(o *apiOptions) { o.urls = &p }
}

// WithUnsubscribeKey gives the API the key that signs the unsubscribe links of notification
// emails (the mailer's HERALD_UNSUBSCRIBE_KEY); without one the unsubscribe routes answer 503.
func WithUnsubscribeKey(key string) Option {
	return func(o *apiOptions) { o.unsubscribeKey = key }
}

// WithSlack gives the API a Slack app (LoadSlackConfig), for connecting Slack channels;
// without one, or with an unconfigured one, the Slack OAuth routes answer 503.
func WithSlack(c lambdafn.SlackConfig) Option {
	return func(o *apiOptions) { o.slack = c }
}

// New wires the configuration API function's handler to DynamoDB and SQS, trusting the
// JWT claims API Gateway's authorizer verified.
func New(cfg lambdafn.Config, clients lambdafn.Clients, logger *slog.Logger, opts ...Option) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	var o apiOptions
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.ValidateAPI(); err != nil {
		return nil, fmt.Errorf("API configuration: %w", err)
	}
	webhooks := dynamo.NewWebhookStore(clients.DynamoDB, cfg.WebhooksTable)
	// Slack is called through the same address guard as webhook receivers; loopback opens
	// only where deliveries may reach it too (tests against a stand-in).
	flow, err := SlackFlow(o.slack, cfg.AllowLoopback)
	if err != nil {
		return nil, fmt.Errorf("API configuration: %w", err)
	}
	var slackOAuth httpapi.SlackOAuth
	if flow != nil {
		slackOAuth = flow
	}
	var unsubscribe httpapi.UnsubscribeLinks
	if o.unsubscribeKey != "" {
		unsubscribe = mailbatch.Links{Key: []byte(o.unsubscribeKey)}
	}
	// The same local-only escape hatch as the delivery function's, so that what the API
	// accepts is what deliveries may reach.
	urls := httpapi.URLPolicy{AllowInsecure: cfg.AllowLoopback, AllowLoopback: cfg.AllowLoopback}
	if o.urls != nil {
		urls = *o.urls
	}
	var web http.Handler
	if o.console.ClientID != "" {
		if web, err = console.Handler(console.Config{OIDC: o.console, AllowLoopbackIssuer: cfg.AllowLoopback}); err != nil {
			return nil, fmt.Errorf("API configuration: %w", err)
		}
	}
	api := httpapi.New(httpapi.Deps{
		Console:       web,
		Unsubscribe:   unsubscribe,
		Activity:      dynamo.NewActivity(clients.DynamoDB, cfg.ActivityTable),
		Digests:       dynamo.NewSchedules(clients.DynamoDB, cfg.WebhooksTable),
		Inbound:       dynamo.NewInbound(clients.DynamoDB, cfg.AttemptsTable),
		Auth:          httpapi.ClaimsAuthenticator{TenantClaim: cfg.JWTTenantClaim},
		Webhooks:      webhooks,
		Endpoints:     webhooks,
		Log:           dynamo.NewAttemptLog(clients.DynamoDB, cfg.AttemptsTable, cfg.AttemptRetention),
		Notifications: webhooks,
		Slack:         dynamo.NewSlackChannels(clients.DynamoDB, cfg.WebhooksTable),
		SlackOAuth:    slackOAuth,
		Jobs:          cfg.JobQueue(clients.SQS),
		URLs:          urls,
		// Shared by every instance, so a retried create that lands elsewhere still replays.
		Idempotency: dynamo.NewIdempotency(clients.DynamoDB, cfg.WebhooksTable, httpapi.IdempotencyTTL),
		Logger:      logger,
	})
	return HTTPHandler(api, httpapi.WithClaims), nil
}

// SlackFlow builds the OAuth flow of the Slack app, or nil when Slack is not configured. It calls
// Slack through the SSRF-safe client; allowLoopback opens loopback for a stand-in, as it does
// for deliveries.
func SlackFlow(c lambdafn.SlackConfig, allowLoopback bool) (*slackoauth.Flow, error) {
	if !c.Configured() {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("slack configuration: %w", err)
	}
	flow, err := slackoauth.New(slackoauth.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURL, StateKey: []byte(c.StateKey),
		AuthorizeURL: c.AuthorizeURL, APIURL: c.APIURL, WebhookURLPrefix: c.WebhookURLPrefix,
		HTTPClient: outbound.NewClient(outbound.Options{AllowLoopback: allowLoopback}),
	})
	if err != nil {
		return nil, fmt.Errorf("slack configuration: %w", err)
	}
	return flow, nil
}

// ClaimsContext puts the JWT claims API Gateway verified into the request's context, where
// the API's authenticator reads them.
type ClaimsContext func(ctx context.Context, claims map[string]string) context.Context

// HTTPHandler adapts an http.Handler to an API Gateway HTTP API (payload format 2.0) Lambda
// handler: the request is rebuilt as net/http sees it, so the handler serves Lambda and a local
// port alike.
func HTTPHandler(h http.Handler, withClaims ClaimsContext) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := toRequest(ctx, req)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: `{"title":"Bad request"}`,
				Headers: map[string]string{"Content-Type": "application/problem+json"}}, nil
		}
		if jwt := req.RequestContext.Authorizer; jwt != nil && jwt.JWT != nil && withClaims != nil {
			r = r.WithContext(withClaims(r.Context(), jwt.JWT.Claims))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return toResponse(rec), nil
	}
}

func toRequest(ctx context.Context, req events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
		body = decoded
	}
	target := req.RawPath
	if target == "" {
		target = "/"
	}
	if req.RawQueryString != "" {
		target += "?" + req.RawQueryString
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("parse request path: %w", err)
	}
	method := req.RequestContext.HTTP.Method
	r, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range req.Headers {
		// API Gateway joins repeated headers with commas, which is how HTTP combines them too.
		r.Header.Set(k, v)
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	r.Host = req.RequestContext.DomainName
	r.RemoteAddr = req.RequestContext.HTTP.SourceIP
	r.ContentLength = int64(len(body))
	return r, nil
}

func toResponse(rec *httptest.ResponseRecorder) events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: rec.Code, Headers: map[string]string{}, MultiValueHeaders: map[string][]string{}}
	for k, v := range rec.Header() {
		if len(v) == 1 {
			res.Headers[k] = v[0]
		} else {
			res.MultiValueHeaders[k] = v
		}
	}
	if b := rec.Body.Bytes(); utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}
