// Package lambdafn adapts Herald's domain to AWS Lambda: the event shapes Lambda hands over,
// the environment a function is configured with, and the AWS adapters it is wired to. The
// function mains, the end-to-end tests and the single-machine runner all build handlers here,
// so every runtime runs the same code.
package lambdafn

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldhq/herald/infra/dynamo"
	"github.com/heraldhq/herald/shared/delivery"
)

// Environment variables a function reads. template.yaml sets them; a test asserts that each
// one it sets points at a resource that exists.
const (
	EnvWebhooksTable    = "HERALD_WEBHOOKS_TABLE"
	EnvAttemptsTable    = "HERALD_ATTEMPTS_TABLE"
	EnvDeliveryQueueURL = "HERALD_DELIVERY_QUEUE_URL"
	EnvDeliveryDLQURL   = "HERALD_DELIVERY_DLQ_URL"
	// EnvOrderedDeliveryQueueURL is the FIFO queue of ordered webhooks' jobs, with its FIFO
	// dead-letter queue; a runtime without them refuses to queue an ordered job.
	EnvOrderedDeliveryQueueURL = "HERALD_ORDERED_DELIVERY_QUEUE_URL"
	EnvOrderedDeliveryDLQURL   = "HERALD_ORDERED_DELIVERY_DLQ_URL"
	EnvRetrySchedule           = "HERALD_RETRY_SCHEDULE"
	EnvAttemptTimeout          = "HERALD_ATTEMPT_TIMEOUT"
	EnvAttemptRetention        = "HERALD_ATTEMPT_RETENTION"
	EnvConfigCacheTTL          = "HERALD_CONFIG_CACHE_TTL"
	// EnvMailTable is the table of email lines waiting for the mailer.
	EnvMailTable = "HERALD_MAIL_TABLE"
	// EnvActivityTable is the table of activity that digests summarise.
	EnvActivityTable = "HERALD_ACTIVITY_TABLE"
	// EnvJWTTenantClaim names the JWT claim that carries the caller's organisation; API
	// Gateway's authorizer has verified the token before the API function sees it.
	EnvJWTTenantClaim = "HERALD_JWT_TENANT_CLAIM"
	// EnvAllowLoopback lets deliveries reach 127.0.0.0/8 and ::1. It exists for tests and the
	// single-machine runtime; template.yaml never sets it.
	EnvAllowLoopback = "HERALD_ALLOW_LOOPBACK"
	// EnvEventBusName is the bus Herald publishes its own operational events to.
	EnvEventBusName = "HERALD_EVENT_BUS_NAME"
	// EnvEndpointDisableAfter is how long a webhook fails every attempt before it is
	// disabled ("0" never disables one); EnvEndpointMinFailures is how many failures within a
	// day start counting it (delivery.HealthPolicy).
	EnvEndpointDisableAfter = "HERALD_ENDPOINT_DISABLE_AFTER"
	EnvEndpointMinFailures  = "HERALD_ENDPOINT_MIN_FAILURES"
)

// DefaultConfigCacheTTL is how stale a warm function's view of webhook configuration may be.
// Ten seconds keeps DynamoDB reads to a handful per minute per stage under load while a
// disabled webhook stops within the time it takes to read its confirmation.
const DefaultConfigCacheTTL = 10 * time.Second

// Config is a function's configuration, read from its environment.
type Config struct {
	WebhooksTable    string
	AttemptsTable    string
	MailTable        string
	ActivityTable    string
	DeliveryQueueURL string
	DeliveryDLQURL   string
	// OrderedDeliveryQueueURL and OrderedDeliveryDLQURL are the FIFO queues of ordered jobs.
	OrderedDeliveryQueueURL string
	OrderedDeliveryDLQURL   string
	RetrySchedule           delivery.Schedule
	AttemptTimeout          time.Duration
	AttemptRetention        time.Duration
	ConfigCacheTTL          time.Duration
	AllowLoopback           bool
	JWTTenantClaim          string
	EventBusName            string
	EndpointHealth          delivery.HealthPolicy
}

// LoadConfig reads the configuration with getenv (os.Getenv in a main) and applies defaults.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		WebhooksTable:           getenv(EnvWebhooksTable),
		AttemptsTable:           getenv(EnvAttemptsTable),
		MailTable:               getenv(EnvMailTable),
		ActivityTable:           getenv(EnvActivityTable),
		DeliveryQueueURL:        getenv(EnvDeliveryQueueURL),
		DeliveryDLQURL:          getenv(EnvDeliveryDLQURL),
		OrderedDeliveryQueueURL: getenv(EnvOrderedDeliveryQueueURL),
		OrderedDeliveryDLQURL:   getenv(EnvOrderedDeliveryDLQURL),
		JWTTenantClaim:          getenv(EnvJWTTenantClaim),
		EventBusName:            getenv(EnvEventBusName),
		EndpointHealth:          delivery.DefaultHealthPolicy,
	}
	var errs []error
	scheduleText := getenv(EnvRetrySchedule)
	if scheduleText == "" {
		scheduleText = delivery.DefaultSchedule
	}
	var err error
	if c.RetrySchedule, err = delivery.ParseSchedule(scheduleText); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvRetrySchedule, err))
	}
	for _, d := range []struct {
		env  string
		dst  *time.Duration
		dflt time.Duration
	}{
		{EnvAttemptTimeout, &c.AttemptTimeout, delivery.DefaultAttemptTimeout},
		{EnvAttemptRetention, &c.AttemptRetention, dynamo.DefaultAttemptRetention},
		{EnvConfigCacheTTL, &c.ConfigCacheTTL, DefaultConfigCacheTTL},
		{EnvEndpointDisableAfter, &c.EndpointHealth.DisableAfter, delivery.DefaultHealthPolicy.DisableAfter},
	} {
		*d.dst = d.dflt
		if v := getenv(d.env); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed < 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a non-negative duration", d.env, v))
				continue
			}
			*d.dst = parsed
		}
	}
	if v := getenv(EnvEndpointMinFailures); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive whole number", EnvEndpointMinFailures, v))
		} else {
			c.EndpointHealth.MinFailures = n
		}
	}
	if v := getenv(EnvAllowLoopback); v != "" {
		if c.AllowLoopback, err = strconv.ParseBool(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a boolean", EnvAllowLoopback, v))
		}
	}
	return c, errors.Join(errs...)
}

// Require reports each named setting that is empty, as "NAME is required".
func Require(pairs ...string) error {
	var errs []error
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			errs = append(errs, fmt.Errorf("%s is required", pairs[i]))
		}
	}
	return errors.Join(errs...)
}

// ValidateRouter reports what the router function lacks.
func (c Config) ValidateRouter() error {
	return Require(EnvWebhooksTable, c.WebhooksTable, EnvDeliveryQueueURL, c.DeliveryQueueURL, EnvAttemptsTable, c.AttemptsTable)
}

// ValidateNotify reports what the notification router function lacks.
func (c Config) ValidateNotify() error {
	return Require(EnvWebhooksTable, c.WebhooksTable, EnvDeliveryQueueURL, c.DeliveryQueueURL, EnvMailTable, c.MailTable,
		EnvActivityTable, c.ActivityTable, EnvAttemptsTable, c.AttemptsTable)
}

// ValidateDigest reports what the digest function lacks.
func (c Config) ValidateDigest() error {
	return Require(EnvWebhooksTable, c.WebhooksTable, EnvAttemptsTable, c.AttemptsTable, EnvActivityTable, c.ActivityTable,
		EnvDeliveryQueueURL, c.DeliveryQueueURL)
}

// ValidateAPI reports what the configuration API function lacks.
func (c Config) ValidateAPI() error {
	return Require(EnvWebhooksTable, c.WebhooksTable, EnvAttemptsTable, c.AttemptsTable, EnvDeliveryQueueURL, c.DeliveryQueueURL,
		EnvActivityTable, c.ActivityTable, EnvJWTTenantClaim, c.JWTTenantClaim)
}

// ValidateDelivery reports what the delivery function lacks.
func (c Config) ValidateDelivery() error {
	return Require(EnvWebhooksTable, c.WebhooksTable, EnvAttemptsTable, c.AttemptsTable,
		EnvDeliveryQueueURL, c.DeliveryQueueURL, EnvDeliveryDLQURL, c.DeliveryDLQURL, EnvMailTable, c.MailTable,
		EnvEventBusName, c.EventBusName)
}
