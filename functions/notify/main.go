// Command notify is the Lambda function that EventBridge invokes with every inbound event a
// notification can react to; it produces the webhook deliveries, Slack posts and email lines
// of the tenant's notifications that subscribe.
package main

import (
	"log/slog"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/notifyfn"
)

func main() {
	lambdafn.Main("notify", func(cfg lambdafn.Config, clients lambdafn.Clients, metrics *lambdafn.EMF, logger *slog.Logger) (any, error) {
		h, err := notifyfn.New(cfg, clients, metrics, logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
