package lambdafn

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/heraldhq/herald/events/stagetransition"
	"github.com/heraldhq/herald/shared/delivery"
	"github.com/heraldhq/herald/shared/stagehooks"
	"github.com/heraldhq/herald/shared/telemetry"
)

// RouterHandler is the EventBridge-triggered router function.
type RouterHandler struct {
	Router  *stagehooks.Router
	Counter telemetry.Counter
	Logger  *slog.Logger
}

// Handle routes one stage-transition event. A rejected event returns nil: the same bytes would
// fail the same way on every retry, so it is logged and counted instead. Only our own failures
// return an error; EventBridge invokes the function asynchronously, so Lambda retries it twice
// and then parks the event in the failure queue of template.yaml, from which it can be replayed.
func (h *RouterHandler) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	log := h.Logger.With("event_id", ev.ID, "detail_type", ev.DetailType, "source", ev.Source)
	if ev.DetailType != stagetransition.DetailType {
		h.reject(log, stagetransition.ReasonWrongDetailType, "detail-type is not "+stagetransition.DetailType)
		return nil
	}
	d, err := stagetransition.ParseDetail(ev.Detail)
	if err == nil {
		var n int
		n, err = h.Router.Route(ctx, d)
		if err == nil {
			h.Counter.Count(telemetry.EventsRouted, strconv.FormatBool(n > 0))
			log.Info("stage transition routed", "project_hash", d.ProjectHash, "task_id", d.TaskID, "jobs", n)
			return nil
		}
	}
	if reason := stagetransition.ReasonOf(err); reason != "" {
		h.reject(log, reason, err.Error())
		return nil
	}
	log.Error("route stage transition", "error", err)
	return err
}

func (h *RouterHandler) reject(log *slog.Logger, reason stagetransition.Reason, detail string) {
	log.Warn("stage transition event rejected", "reason", string(reason), "detail", detail)
	h.Counter.Count(telemetry.EventsRejected, string(reason))
}

// DeliveryHandler is the SQS-triggered delivery function.
type DeliveryHandler struct {
	Processor *delivery.Processor
}

// Handle attempts a batch of delivery jobs and reports the ones to return to the queue.
func (h *DeliveryHandler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// Lambda invokes the function as soon as its poller has received the batch (the batching
	// window is 1 s); the event carries no time of this receive, so the invocation stands in
	// for it, and delivery.Processor keeps a margin for the difference.
	received := time.Now()
	msgs := make([]delivery.Message, len(ev.Records))
	for i, r := range ev.Records {
		count, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
		if err != nil || count < 1 {
			count = 1
		}
		msgs[i] = delivery.Message{ID: r.MessageId, ReceiptHandle: r.ReceiptHandle, Body: []byte(r.Body), ReceiveCount: count, ReceivedAt: received}
	}
	failed := h.Processor.Process(ctx, msgs)
	resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(failed))}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp, nil
}
