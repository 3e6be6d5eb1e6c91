package httpapi

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/heraldhq/herald/shared/mailbatch"
	"github.com/heraldhq/herald/shared/notifications"
	"github.com/heraldhq/herald/shared/stagehooks"
)

// UnsubscribeLinks checks the signed unsubscribe links of notification emails.
type UnsubscribeLinks interface {
	Check(token string) (mailbatch.Unsubscription, error)
}

var (
	errNoEmails = problem(http.StatusServiceUnavailable, "emails-not-configured", "Notification emails are not configured",
		"this installation sends no notification emails, so it has no unsubscribe links")
	errBadUnsubscribeLink = problem(http.StatusBadRequest, "invalid-unsubscribe-link", "Invalid unsubscribe link",
		"the link is altered, truncated or from another installation; use the link of a recent email")
)

// maxUnsubscribeRetries bounds the read-modify-write of one notification racing its owner's
// edits (each retry reads the new version).
const maxUnsubscribeRetries = 3

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald notification emails</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">
{{if .Done}}<h1>Unsubscribed</h1>
<p>{{.Address}} will no longer receive these notification emails ({{.Removed}} {{if eq .Removed 1}}notification{{else}}notifications{{end}} changed).</p>
{{else}}<h1>Stop notification emails?</h1>
<p>Stop sending {{.Address}} {{if .All}}every notification email of this organisation{{else}}the emails of {{len .IDs}} {{if eq (len .IDs) 1}}notification{{else}}notifications{{end}}{{end}}.</p>
<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>
{{end}}</body></html>
`))

type unsubscribeView struct {
	Address string
	IDs     []string
	All     bool
	Done    bool
	Removed int
}

func (s *Server) checkUnsubscribe(w http.ResponseWriter, r *http.Request) (mailbatch.Unsubscription, bool) {
	if s.Unsubscribe == nil {
		s.fail(w, r, errNoEmails)
		return mailbatch.Unsubscription{}, false
	}
	u, err := s.Unsubscribe.Check(r.URL.Query().Get("token"))
	if err != nil {
		s.fail(w, r, errBadUnsubscribeLink)
		return mailbatch.Unsubscription{}, false
	}
	return u, true
}

// showUnsubscribe answers the link itself: a page with a button, and no change, because mail
// scanners open links.
func (s *Server) showUnsubscribe(w http.ResponseWriter, r *http.Request) {
	u, ok := s.checkUnsubscribe(w, r)
	if !ok {
		return
	}
	all := len(u.NotificationIDs) == 1 && u.NotificationIDs[0] == mailbatch.AllNotifications
	writeHTML(w, unsubscribeView{Address: u.Address, IDs: u.NotificationIDs, All: all})
}

// unsubscribe removes the address from the notifications the link names: the page's button,
// and the RFC 8058 one-click POST of mail clients.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	u, ok := s.checkUnsubscribe(w, r)
	if !ok {
		return
	}
	ids := u.NotificationIDs
	if len(ids) == 1 && ids[0] == mailbatch.AllNotifications {
		var err error
		if ids, err = s.notificationsListing(r.Context(), u.TenantID, u.Address); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	removed := 0
	for _, id := range ids {
		changed, err := s.removeEmail(r.Context(), u.TenantID, id, u.Address)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if changed {
			removed++
		}
	}
	s.logger.InfoContext(r.Context(), "address unsubscribed", "tenant_id", u.TenantID, "notifications", removed)
	writeHTML(w, unsubscribeView{Address: u.Address, Done: true, Removed: removed})
}

// notificationsListing returns the ids of tenant's notifications that email address, a page of
// the listing at a time.
func (s *Server) notificationsListing(ctx context.Context, tenant, address string) ([]string, error) {
	var ids []string
	q := notifications.Query{Page: stagehooks.PageRequest{Limit: 100}}
	for {
		page, err := s.Notifications.ListNotifications(ctx, tenant, q)
		if err != nil {
			return nil, fmt.Errorf("list notifications of tenant %s to unsubscribe an address: %w", tenant, err)
		}
		for _, n := range page.Items {
			if _, listed := n.WithoutEmail(address); listed {
				ids = append(ids, n.ID)
			}
		}
		if page.NextCursor == "" {
			return ids, nil
		}
		q.Page.Cursor = page.NextCursor
	}
}

// removeEmail takes address out of one notification; false when it was not there (removed
// before, or the notification is gone).
func (s *Server) removeEmail(ctx context.Context, tenant, id, address string) (bool, error) {
	for range maxUnsubscribeRetries {
		n, err := s.Notifications.GetNotification(ctx, tenant, id)
		if errors.Is(err, notifications.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read notification %s to unsubscribe an address: %w", id, err)
		}
		next, listed := n.WithoutEmail(address)
		if !listed {
			return false, nil
		}
		_, err = s.Notifications.UpdateNotification(ctx, n.Updated(next, s.Now()), n.Version)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, notifications.ErrVersionConflict):
			continue // its owner changed it meanwhile: read the new version
		case errors.Is(err, notifications.ErrNotFound):
			return false, nil
		default:
			return false, fmt.Errorf("unsubscribe an address from notification %s: %w", id, err)
		}
	}
	return false, fmt.Errorf("unsubscribe an address from notification %s: changed %d times meanwhile: %w", id, maxUnsubscribeRetries, notifications.ErrVersionConflict)
}

// writeHTML renders the unsubscribe page. The page has no script, and its policy allows none.
func writeHTML(w http.ResponseWriter, v unsubscribeView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = unsubscribePage.Execute(w, v)
}
