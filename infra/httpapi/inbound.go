package httpapi

import (
	"net/http"
	"time"

	"github.com/heraldhq/herald/shared/inbound"
)

// inboundView is what became of one inbound event in one of Herald's routers.
type inboundView struct {
	EventID     string    `json:"event_id"`
	Router      string    `json:"router"`
	DetailType  string    `json:"detail_type"`
	Source      string    `json:"source"`
	At          time.Time `json:"at"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	ProjectHash string    `json:"project_hash,omitempty"`
	TaskID      string    `json:"task_id,omitempty"`
	Deliveries  int       `json:"deliveries"`
}

type inboundList struct {
	Items      []inboundView `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// listInboundEvents shows the caller's tenant's recent inbound events, newest first, with
// what each queued or why it queued nothing.
func (s *Server) listInboundEvents(w http.ResponseWriter, r *http.Request) {
	if s.Inbound == nil {
		s.fail(w, r, problem(http.StatusServiceUnavailable, "events-not-recorded", "Inbound events not recorded",
			"this installation keeps no record of inbound events"))
		return
	}
	page, prob := pageRequest(r)
	if prob != nil {
		s.fail(w, r, prob)
		return
	}
	q := inbound.Query{Outcome: inbound.Outcome(r.URL.Query().Get("outcome")), Page: page}
	if q.Outcome != "" && !q.Outcome.Valid() {
		s.fail(w, r, validation(FieldIssue{Field: "outcome", Reason: "must be routed, no_match or rejected"}))
		return
	}
	res, err := s.Inbound.ListInbound(r.Context(), principalOf(r.Context()).TenantID, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := inboundList{Items: make([]inboundView, 0, len(res.Items)), NextCursor: res.NextCursor}
	for _, e := range res.Items {
		out.Items = append(out.Items, inboundView{
			EventID: e.EventID, Router: e.Router, DetailType: e.DetailType, Source: e.Source, At: e.At, Outcome: string(e.Outcome),
			Reason: e.Reason, Detail: e.Detail, ProjectHash: e.ProjectHash, TaskID: e.TaskID, Deliveries: e.Deliveries,
		})
	}
	writeJSON(w, http.StatusOK, out)
}
