// Command delivery is the Lambda function fed by the delivery queue; it makes signed webhook
// attempts and reports the messages that must come back as batch item failures.
package main

import (
	"log/slog"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/deliveryfn"
)

func main() {
	lambdafn.Main("delivery", func(cfg lambdafn.Config, clients lambdafn.Clients, metrics *lambdafn.EMF, logger *slog.Logger) (any, error) {
		h, err := deliveryfn.New(cfg, clients, metrics, logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
