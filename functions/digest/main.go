// Command digest is the Lambda function a schedule invokes every minute; it sends the digests
// of notifications whose times of day have come, by email, Slack and digest_event webhooks.
package main

import (
	"log/slog"
	"os"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/digestfn"
)

func main() {
	lambdafn.Main("digest", func(cfg lambdafn.Config, clients lambdafn.Clients, metrics *lambdafn.EMF, logger *slog.Logger) (any, error) {
		mailCfg, err := lambdafn.LoadMailConfig(os.Getenv)
		if err != nil {
			return nil, err
		}
		h, err := digestfn.New(cfg, mailCfg, clients, metrics, logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
