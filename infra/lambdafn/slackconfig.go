package lambdafn

import (
	"errors"
	"fmt"
)

// Environment of the Slack app the configuration API runs the "Add to Slack" flow as.
// template.yaml fills them from parameters; all empty means Slack is not configured, and the
// API's Slack OAuth routes answer 503.
//
// The client secret and the state key are secrets. A NoEcho parameter keeps them out of the
// stack's parameter listings, but Lambda shows environment variables to anyone allowed
// lambda:GetFunctionConfiguration: production should keep them in Secrets Manager and have the
// function read them at start.
const (
	EnvSlackClientID     = "HERALD_SLACK_CLIENT_ID"
	EnvSlackClientSecret = "HERALD_SLACK_CLIENT_SECRET"
	EnvSlackRedirectURL  = "HERALD_SLACK_REDIRECT_URL"
	// EnvSlackStateKey signs the OAuth state (HMAC-SHA256): at least
	// MinSlackStateKey bytes, used as written (`openssl rand -base64 32` gives 44),
	// the same on every instance, since the callback may reach another one than the start.
	EnvSlackStateKey = "HERALD_SLACK_STATE_KEY"
)

// MinSlackStateKey is slackoauth.MinStateKeyLen (a test keeps them equal), here so that reading
// the configuration does not link Slack's client into every function.
const MinSlackStateKey = 32

// SlackConfig is the Slack app of the configuration API; apifn.SlackFlow builds its OAuth flow.
type SlackConfig struct {
	ClientID     string
	ClientSecret string
	RedirectURL  string
	StateKey     string
	// AuthorizeURL, APIURL and WebhookURLPrefix replace Slack's own addresses, for a local
	// stand-in of Slack; empty means Slack's. The environment never sets them.
	AuthorizeURL     string
	APIURL           string
	WebhookURLPrefix string
}

// LoadSlackConfig reads the Slack app from the environment, with the getenv LoadConfig is
// given. An all-empty environment is a valid, unconfigured Slack.
func LoadSlackConfig(getenv func(string) string) (SlackConfig, error) {
	c := SlackConfig{
		ClientID:     getenv(EnvSlackClientID),
		ClientSecret: getenv(EnvSlackClientSecret),
		RedirectURL:  getenv(EnvSlackRedirectURL),
		StateKey:     getenv(EnvSlackStateKey),
	}
	return c, c.Validate()
}

// Configured reports whether Slack is set up at all.
func (c SlackConfig) Configured() bool {
	return c.ClientID != "" || c.ClientSecret != "" || c.RedirectURL != "" || c.StateKey != ""
}

// Validate reports a half-configured Slack app: either every setting is given, or none.
func (c SlackConfig) Validate() error {
	if !c.Configured() {
		return nil
	}
	err := Require(EnvSlackClientID, c.ClientID, EnvSlackClientSecret, c.ClientSecret,
		EnvSlackRedirectURL, c.RedirectURL, EnvSlackStateKey, c.StateKey)
	if c.StateKey != "" && len(c.StateKey) < MinSlackStateKey {
		err = errors.Join(err, fmt.Errorf("%s has %d bytes, want at least %d", EnvSlackStateKey, len(c.StateKey), MinSlackStateKey))
	}
	return err
}
