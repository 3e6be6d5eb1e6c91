// Command router is the Lambda function that EventBridge invokes with every task stage
// transition; it enqueues one delivery job per stage webhook the transition fires.
package main

import (
	"log/slog"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/routerfn"
)

func main() {
	lambdafn.Main("router", func(cfg lambdafn.Config, clients lambdafn.Clients, metrics *lambdafn.EMF, logger *slog.Logger) (any, error) {
		h, err := routerfn.New(cfg, clients, metrics, logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
