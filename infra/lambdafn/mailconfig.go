package lambdafn

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Environment of the mailer function, which sends the five-minute notification emails.
const (
	// EnvMailFrom is the sender of every email, an address of the SES identity the function
	// may send as ("Herald <noreply@example.com>").
	EnvMailFrom = "HERALD_MAIL_FROM"
	// EnvEmailInterval is the send window: a Go duration ("5m", "30s") or the schedule's own
	// rate expression ("rate(5 minutes)"), so template.yaml states it once.
	EnvEmailInterval = "HERALD_EMAIL_INTERVAL"
	// EnvEmailRate is the most emails a second the mailer sends (SES's sending quota).
	EnvEmailRate = "HERALD_EMAIL_RATE"
	// EnvUnsubscribeKey signs the unsubscribe links of emails (HMAC-SHA256), at least
	// MinUnsubscribeKey bytes; the API function checks them with the same key.
	EnvUnsubscribeKey = "HERALD_UNSUBSCRIBE_KEY"
	// EnvPublicAPIURL is the API's address as recipients reach it, for the unsubscribe links.
	EnvPublicAPIURL = "HERALD_PUBLIC_API_URL"
)

// MinUnsubscribeKey is mailbatch.MinUnsubscribeKey, here so that reading the configuration
// does not link the mailer into every function.
const MinUnsubscribeKey = 32

// DefaultEmailInterval is the spec's: emails are aggregated and sent every 5 minutes.
const DefaultEmailInterval = 5 * time.Minute

// MailConfig is the configuration of the five-minute emails.
type MailConfig struct {
	From           string
	Interval       time.Duration
	Rate           float64
	UnsubscribeKey string
	PublicAPIURL   string
}

var rateExpression = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours)\)$`)

// ParseInterval reads a Go duration or an EventBridge rate expression in minutes or hours.
func ParseInterval(s string) (time.Duration, error) {
	if m := rateExpression.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := time.Minute
		if m[2] == "hour" || m[2] == "hours" {
			unit = time.Hour
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q is neither a duration of at least 1s (5m, 30s) nor rate(N minutes)", s)
	}
	return d, nil
}

// LoadMailConfig reads the mail settings from the environment.
func LoadMailConfig(getenv func(string) string) (MailConfig, error) {
	c := MailConfig{
		From: getenv(EnvMailFrom), UnsubscribeKey: getenv(EnvUnsubscribeKey), PublicAPIURL: getenv(EnvPublicAPIURL),
		Interval: DefaultEmailInterval,
	}
	var errs []error
	if v := getenv(EnvEmailInterval); v != "" {
		d, err := ParseInterval(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvEmailInterval, err))
		}
		c.Interval = d
	}
	if v := getenv(EnvEmailRate); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive number", EnvEmailRate, v))
		}
		c.Rate = r
	}
	return c, errors.Join(errs...)
}

// ValidateDigest reports what the digest function lacks to send emails: what the mailer
// needs but its interval and rate.
func (c MailConfig) ValidateDigest() error { return c.ValidateMailer() }

// ValidateMailer reports what the mailer lacks.
func (c MailConfig) ValidateMailer() error {
	err := Require(EnvMailFrom, c.From, EnvUnsubscribeKey, c.UnsubscribeKey, EnvPublicAPIURL, c.PublicAPIURL)
	if c.UnsubscribeKey != "" && len(c.UnsubscribeKey) < MinUnsubscribeKey {
		err = errors.Join(err, fmt.Errorf("%s has %d bytes, want at least %d", EnvUnsubscribeKey, len(c.UnsubscribeKey), MinUnsubscribeKey))
	}
	return err
}
