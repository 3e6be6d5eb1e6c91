// Package httpapi is Herald's configuration API: one http.Handler that API Gateway's HTTP API
// invokes through the Lambda adapter on AWS, and that the single-machine runtime serves on a
// local port. Every route is scoped to the caller's tenant; errors are RFC 9457 problem
// details; the routes are listed once, in routes(), and documented in openapi.json, which a test
// keeps in step with them.
package httpapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/inbound"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// WebhookStore is the stage-webhook storage the API needs.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w stagehooks.Webhook) error
	GetWebhook(ctx context.Context, tenant, id string) (stagehooks.Webhook, error)
	ListWebhooks(ctx context.Context, tenant string, page stagehooks.PageRequest) (stagehooks.WebhookPage, error)
	UpdateWebhook(ctx context.Context, w stagehooks.Webhook, expectedVersion int64) (stagehooks.Webhook, error)
	DeleteWebhook(ctx context.Context, tenant, id string) error
}

// URLPolicy says which webhook URLs may be saved. Production requires https and public
// addresses; the local flags exist for a receiver on the same machine.
type URLPolicy struct {
	AllowInsecure bool
	AllowLoopback bool
	Resolver      *net.Resolver
}

// Deps are the API's collaborators; each runtime's composition root fills them.
type Deps struct {
	Auth     Authenticator
	Webhooks WebhookStore
	// Endpoints finds any webhook of a tenant, a stage webhook or a notification's, as the
	// delivery path does: the delivery log serves both kinds.
	Endpoints delivery.EndpointSource
	// Log is the attempt log; redeliveries rebuild their jobs from it.
	Log DeliveryLog
	// Notifications keeps notifications with their webhooks.
	Notifications NotificationStore
	// Slack holds users' connected Slack channels, which notifications name.
	Slack SlackChannelStore
	// SlackOAuth connects Slack channels; nil when the installation has no Slack app, and
	// the OAuth routes then answer 503.
	SlackOAuth SlackOAuth
	// Jobs is the delivery queue: test events, redeliveries and recoveries go through it.
	Jobs stagehooks.JobQueue
	// Unsubscribe checks the signed links of notification emails; nil when the installation
	// sends none, and the unsubscribe routes then answer 503.
	Unsubscribe UnsubscribeLinks
	// Activity is what digests summarise; the digest preview reads it.
	Activity digest.ActivityStore
	// Digests keeps when notifications' digests are next due; nil when the installation
	// sends no digests.
	Digests     digest.ScheduleStore
	Idempotency IdempotencyStore
	// Inbound is the record of what became of inbound events; nil for none.
	Inbound inbound.Reader
	// SignIn redeems console sign-in links; nil where the console signs in through OIDC.
	SignIn ConsoleSignIn
	// Console serves the browser console at / and /console/; nil for none.
	Console http.Handler
	URLs    URLPolicy
	Now     func() time.Time
	Logger  *slog.Logger
}

// Server is the configuration API.
type Server struct {
	Deps
	mux    *http.ServeMux
	logger *slog.Logger
}

// route is one operation: the router registers it and the OpenAPI test checks it is
// documented, so the two cannot drift.
type route struct {
	method      string
	pattern     string
	operationID string
	public      bool
	handle      func(s *Server, w http.ResponseWriter, r *http.Request)
}

func routes() []route {
	return []route{
		{"GET", "/openapi.json", "getOpenAPI", true, (*Server).openAPI},
		{"POST", "/v1/webhooks", "createWebhook", false, (*Server).createWebhook},
		{"GET", "/v1/webhooks", "listWebhooks", false, (*Server).listWebhooks},
		{"GET", "/v1/webhooks/{id}", "getWebhook", false, (*Server).getWebhook},
		{"PATCH", "/v1/webhooks/{id}", "updateWebhook", false, (*Server).updateWebhook},
		{"DELETE", "/v1/webhooks/{id}", "deleteWebhook", false, (*Server).deleteWebhook},
		{"POST", "/v1/webhooks/{id}/rotate-secret", "rotateWebhookSecret", false, (*Server).rotateSecret},
		{"POST", "/v1/webhooks/{id}/test", "sendTestEvent", false, (*Server).sendTestEvent},
		{"GET", "/v1/webhooks/{id}/attempts", "listWebhookAttempts", false, (*Server).listWebhookAttempts},
		{"POST", "/v1/webhooks/{id}/recover", "recoverWebhookDeliveries", false, (*Server).recoverDeliveries},
		{"GET", "/v1/deliveries/{id}", "getDelivery", false, (*Server).getDelivery},
		{"POST", "/v1/deliveries/{id}/redeliver", "redeliver", false, (*Server).redeliver},
		{"POST", "/v1/notifications", "createNotification", false, (*Server).createNotification},
		{"GET", "/v1/notifications", "listNotifications", false, (*Server).listNotifications},
		{"GET", "/v1/notifications/{id}", "getNotification", false, (*Server).getNotification},
		{"PATCH", "/v1/notifications/{id}", "updateNotification", false, (*Server).updateNotification},
		{"DELETE", "/v1/notifications/{id}", "deleteNotification", false, (*Server).deleteNotification},
		{"POST", "/v1/notifications/{id}/webhooks/{webhook_id}/rotate-secret", "rotateNotificationWebhookSecret", false, (*Server).rotateNotificationWebhookSecret},
		{"GET", "/v1/notification-events", "listNotificationEvents", false, (*Server).listNotificationEvents},
		{"GET", "/v1/slack/oauth/start", "startSlackOAuth", false, (*Server).slackOAuthStart},
		{"GET", "/v1/slack/oauth/callback", "finishSlackOAuth", false, (*Server).slackOAuthCallback},
		{"GET", "/v1/slack/channels", "listSlackChannels", false, (*Server).listSlackChannels},
		{"DELETE", "/v1/slack/channels/{id}", "deleteSlackChannel", false, (*Server).deleteSlackChannel},
		{"GET", "/v1/slack/channels/{id}/attempts", "listSlackChannelAttempts", false, (*Server).listSlackChannelAttempts},
		{"GET", "/v1/notifications/{id}/digest-preview", "previewDigest", false, (*Server).previewDigest},
		{"GET", "/v1/digest-preview", "previewDraftDigest", false, (*Server).previewDraftDigest},
		{"GET", "/v1/events", "listInboundEvents", false, (*Server).listInboundEvents},
		{"GET", "/v1/me", "getCaller", false, (*Server).me},
		{"POST", "/v1/console/sign-in", "redeemSignInLink", true, (*Server).consoleSignIn},
		{"GET", "/v1/unsubscribe", "showUnsubscribe", true, (*Server).showUnsubscribe},
		{"POST", "/v1/unsubscribe", "unsubscribe", true, (*Server).unsubscribe},
	}
}

// New builds the API handler.
func New(deps Deps) http.Handler {
	s := &Server{Deps: deps, mux: http.NewServeMux(), logger: deps.Logger}
	if s.logger == nil {
		s.logger = discardLogger
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Idempotency == nil {
		s.Idempotency = NewMemoryIdempotency(10_000)
	}
	for _, rt := range routes() {
		s.mux.HandleFunc(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	if deps.Console != nil {
		s.mux.Handle("GET /{$}", deps.Console)
		s.mux.Handle("GET /console/", deps.Console)
	}
	return s
}

// ServeHTTP answers unknown paths and methods with problem details too; the mux's own 404 and
// 405 bodies are plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, r)
	if rec.Code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.Header().Get("Allow"))
		writeProblem(w, problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", r.Method+" is not allowed on "+r.URL.Path))
		return
	}
	writeProblem(w, errNotFound)
}

func (s *Server) wrap(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.logger.ErrorContext(r.Context(), "handler panicked", "operation", rt.operationID, "panic", v)
				writeProblem(w, problem(http.StatusInternalServerError, "internal", "Internal error", "the request could not be completed; retry later"))
			}
		}()
		if !rt.public {
			p, err := s.Auth.Authenticate(r)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
				writeProblem(w, errUnauthorized)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		rt.handle(s, w, r)
	}
}
