package stagehooks

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/events/payloads"
	"github.com/heraldhq/herald/events/stagetransition"
)

// Event types of the platform's stage webhooks.
const (
	EventTaskSubmitted = payloads.TaskSubmitted
	EventTaskCompleted = payloads.TaskCompleted
)

// uidNamespace scopes Herald's name-based payload uids.
var uidNamespace = uuid.MustParse("5b0b4c1e-8f55-4b8e-9d4a-2c6f1e0a7d31")

// PayloadUID derives the payload uid from the transition and the webhook, not from the
// EventBridge envelope: EventBridge redelivers with the same envelope id, but a producer that
// retries PutEvents publishes a new one. Either way the same transition gives each webhook the
// same uid, so receivers can deduplicate on webhook-id.
func PayloadUID(d stagetransition.Detail, webhookID, eventType string) string {
	from := ""
	if d.FromStage != nil {
		from = d.FromStage.UUID
	}
	name := fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", d.ProjectHash, d.TaskID, from, d.ToStage.UUID,
		d.OccurredAt.UTC().Format(time.RFC3339Nano), webhookID, eventType)
	return uuid.NewSHA1(uidNamespace, []byte(name)).String()
}

// BuildPayload renders the documented JSON body of eventType for one transition.
func BuildPayload(d stagetransition.Detail, eventType, uid string) ([]byte, error) {
	switch eventType {
	case EventTaskSubmitted:
		return payloads.Marshal(uid, eventType, d.OccurredAt,
			payloads.TaskSubmittedPayload{ProjectHash: d.ProjectHash, DataHashes: d.DataHashes, LabelHashes: d.LabelHashes})
	case EventTaskCompleted:
		if len(d.DataHashes) != 1 || len(d.LabelHashes) != 1 {
			return nil, &stagetransition.InvalidError{Reason: stagetransition.ReasonMissingHashes,
				Detail: fmt.Sprintf("a completed task has one data unit and one label row; got %d data hashes and %d label hashes", len(d.DataHashes), len(d.LabelHashes))}
		}
		return payloads.Marshal(uid, eventType, d.OccurredAt,
			payloads.TaskCompletedPayload{LabelHash: d.LabelHashes[0], ProjectHash: d.ProjectHash, DataHash: d.DataHashes[0]})
	default:
		return nil, fmt.Errorf("build payload: unknown event type %q", eventType)
	}
}
