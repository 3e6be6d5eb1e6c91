package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldhq/herald/infra/slackoauth"
	"github.com/heraldhq/herald/shared/slack"
)

// SlackOAuth is the "Add to Slack" flow of Herald's Slack app (slackoauth.Flow).
type SlackOAuth interface {
	// StartURL returns the URL of Slack's consent page for user of tenant.
	StartURL(tenant, user string) (string, error)
	// CallbackQuery checks the redirect's query against tenant and user and exchanges its
	// code for the channel the user picked.
	CallbackQuery(ctx context.Context, tenant, user string, q url.Values) (slack.Channel, error)
}

var _ SlackOAuth = (*slackoauth.Flow)(nil)

// slackChannelView is a connected channel as the API shows it: never its incoming-webhook
// URL, which is a bearer secret for posting into the channel.
type slackChannelView struct {
	ID               string    `json:"id"`
	OwnerID          string    `json:"owner_id"`
	TeamID           string    `json:"team_id"`
	TeamName         string    `json:"team_name"`
	ChannelID        string    `json:"channel_id"`
	ChannelName      string    `json:"channel_name"`
	ConfigurationURL string    `json:"configuration_url,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	// Status is "active", or "broken" once Slack refused posts for good; BrokenReason and
	// BrokenAt say why and when. Connecting the channel again makes it active.
	Status       string     `json:"status"`
	BrokenReason string     `json:"broken_reason,omitempty"`
	BrokenAt     *time.Time `json:"broken_at,omitempty"`
}

func slackChannelViewOf(ch slack.Channel) slackChannelView {
	ch = ch.Public()
	v := slackChannelView{
		ID: ch.ID, OwnerID: ch.OwnerID, TeamID: ch.TeamID, TeamName: ch.TeamName, ChannelID: ch.ChannelID,
		ChannelName: ch.ChannelName, ConfigurationURL: ch.ConfigurationURL, CreatedAt: ch.CreatedAt.UTC(), Status: "active",
	}
	if ch.BrokenReason != "" {
		at := ch.BrokenAt.UTC()
		v.Status, v.BrokenReason, v.BrokenAt = "broken", ch.BrokenReason, &at
	}
	return v
}

var errSlackNotConfigured = problem(http.StatusServiceUnavailable, "slack-not-configured", "Slack is not configured",
	"this installation has no Slack app; its operator sets the Slack client id, secret, redirect URL and state key")

type slackStart struct {
	URL string `json:"url"`
}

// slackOAuthStart gives the URL of Slack's consent page, bound to the caller: the state in it
// is valid for ten minutes, and only for this tenant and user.
func (s *Server) slackOAuthStart(w http.ResponseWriter, r *http.Request) {
	if s.SlackOAuth == nil {
		s.fail(w, r, errSlackNotConfigured)
		return
	}
	p := principalOf(r.Context())
	target, err := s.SlackOAuth.StartURL(p.TenantID, p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("redirect") == "1" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	writeJSON(w, http.StatusOK, slackStart{URL: target})
}

// slackOAuthCallback finishes the flow with the query Slack redirected back with, as the
// caller: a state made for anyone else is refused before Slack is asked, so a forged callback
// cannot connect an attacker's channel to the caller's notifications.
func (s *Server) slackOAuthCallback(w http.ResponseWriter, r *http.Request) {
	if s.SlackOAuth == nil {
		s.fail(w, r, errSlackNotConfigured)
		return
	}
	p := principalOf(r.Context())
	ch, err := s.SlackOAuth.CallbackQuery(r.Context(), p.TenantID, p.UserID, r.URL.Query())
	switch {
	case errors.Is(err, slackoauth.ErrInvalidState):
		err = badRequest("invalid-state", "Invalid state",
			"the state is not one Herald made for you in the last ten minutes; start again from GET /v1/slack/oauth/start",
			FieldIssue{Field: "state", Reason: "is invalid, expired or made for another user"})
	case errors.Is(err, slackoauth.ErrDenied):
		err = badRequest("slack-denied", "Slack access denied", "the Slack consent page was cancelled; nothing was connected")
	case errors.Is(err, slackoauth.ErrExchange):
		err = badRequest("slack-exchange-failed", "Slack refused the code",
			"Slack did not accept the code (it may have expired or been used); start again from GET /v1/slack/oauth/start")
	case errors.Is(err, slackoauth.ErrUnavailable):
		// Logged here with its (redacted) cause; the client learns only that Slack failed.
		s.logger.WarnContext(r.Context(), "slack oauth exchange failed", "user_id", p.UserID, "error", err)
		err = problem(http.StatusBadGateway, "slack-unavailable", "Slack is unavailable",
			"Slack could not be reached or failed; the code may be spent, so start again from GET /v1/slack/oauth/start")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Slack.SaveChannel(r.Context(), ch); err != nil {
		s.fail(w, r, fmt.Errorf("save slack channel %s: %w", ch.ID, err))
		return
	}
	writeJSON(w, http.StatusCreated, slackChannelViewOf(ch))
}

type slackChannelList struct {
	Items []slackChannelView `json:"items"`
}

// listSlackChannels shows the caller's own channels, which all of the caller's notifications
// share. They are listed even when Slack is no longer configured, so that they can be seen and
// removed.
func (s *Server) listSlackChannels(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	chs, err := s.Slack.ListChannels(r.Context(), p.TenantID, p.UserID)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list slack channels of user %s: %w", p.UserID, err))
		return
	}
	out := slackChannelList{Items: make([]slackChannelView, 0, len(chs))}
	for _, ch := range chs {
		out.Items = append(out.Items, slackChannelViewOf(ch))
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteSlackChannel forgets one of the caller's channels. Notifications that name it stop
// posting there; another user's channel is not found.
func (s *Server) deleteSlackChannel(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if err := s.Slack.DeleteChannel(r.Context(), p.TenantID, p.UserID, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listSlackChannelAttempts is the delivery log of one of the caller's Slack channels: every
// post to it, with Slack's answer.
func (s *Server) listSlackChannelAttempts(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	id := r.PathValue("id")
	chs, err := s.Slack.GetChannels(r.Context(), p.TenantID, p.UserID, []string{id})
	if err != nil {
		s.fail(w, r, fmt.Errorf("read slack channel %s: %w", id, err))
		return
	}
	if _, ok := chs[id]; !ok {
		s.fail(w, r, errNotFound)
		return
	}
	s.writeAttempts(w, r, p.TenantID, id)
}
