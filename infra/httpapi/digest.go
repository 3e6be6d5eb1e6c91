package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/shared/digest"
	"github.com/heraldhq/herald/shared/notifications"
)

// previewDigest answers the digest_event payload the notification would send for the period
// ending now: its projects' activity, per annotator and reviewer. The period is the query's
// (?period=24h, 7d), or the notification's first digest's, or a day.
func (s *Server) previewDigest(w http.ResponseWriter, r *http.Request) {
	n, err := s.notificationOfTenant(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	period := notifications.DefaultDigestPeriod
	if len(n.Triggers.Digests) > 0 && n.Triggers.Digests[0].Period > 0 {
		period = n.Triggers.Digests[0].Period
	}
	s.summarise(w, r, n.TenantID, n.Projects, period)
}

// previewDraftDigest answers the digest_event payload of projects not yet saved in a
// notification (?project=...&project=...): the console's preview while a notification is
// being created.
func (s *Server) previewDraftDigest(w http.ResponseWriter, r *http.Request) {
	projects := r.URL.Query()["project"]
	switch {
	case len(projects) == 0:
		s.fail(w, r, validation(FieldIssue{Field: "project", Reason: "name at least one project (?project=HASH, repeated for more)"}))
		return
	case len(projects) > notifications.MaxProjects:
		s.fail(w, r, validation(FieldIssue{Field: "project", Reason: fmt.Sprintf("at most %d projects", notifications.MaxProjects)}))
		return
	}
	s.summarise(w, r, principalOf(r.Context()).TenantID, projects, notifications.DefaultDigestPeriod)
}

// summarise answers the digest of tenant's projects for the request's period (?period=, or
// period) ending at ?end= (or now).
func (s *Server) summarise(w http.ResponseWriter, r *http.Request, tenant string, projects []string, period time.Duration) {
	var err error
	if q := r.URL.Query().Get("period"); q != "" {
		if period, err = parsePeriod(q); err != nil {
			s.fail(w, r, validation(FieldIssue{Field: "period", Reason: err.Error()}))
			return
		}
	}
	if s.Activity == nil {
		s.fail(w, r, problem(http.StatusServiceUnavailable, "digests-not-configured", "Digests not configured",
			"this installation records no activity for digests"))
		return
	}
	end := s.Now().UTC()
	if q := r.URL.Query().Get("end"); q != "" {
		if end, err = time.Parse(time.RFC3339, q); err != nil {
			s.fail(w, r, validation(FieldIssue{Field: "end", Reason: "not an RFC 3339 time such as 2026-12-05T09:00:00-05:00"}))
			return
		}
		end = end.UTC()
	}
	p, err := digest.Summarise(r.Context(), s.Activity, tenant, projects, end.Add(-period), end)
	if err != nil {
		s.fail(w, r, fmt.Errorf("preview a digest of %d projects: %w", len(projects), err))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// parsePeriod reads a digest period: a Go duration (24h, 90m) or a number of days (7d),
// between MinDigestPeriod and MaxDigestPeriod.
func parsePeriod(q string) (time.Duration, error) {
	d, err := parseSpan(q)
	if err != nil {
		return 0, err
	}
	if d < notifications.MinDigestPeriod || d > notifications.MaxDigestPeriod {
		return 0, fmt.Errorf("must be between %s and %s", notifications.MinDigestPeriod, notifications.MaxDigestPeriod)
	}
	return d, nil
}

// parseSpan reads a duration (24h, 90m) or a number of days (7d).
func parseSpan(q string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(q, "d"); ok {
		// Bounded so that a huge count cannot wrap round into the allowed range.
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 1000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(q); err == nil {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a period such as 24h or 7d", q)
}
