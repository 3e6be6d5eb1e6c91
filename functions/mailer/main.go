// Command mailer is the Lambda function a schedule invokes every email interval (5 minutes by
// default); it sends each recipient of notification emails one email with everything since
// their last one.
package main

import (
	"log/slog"
	"os"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/mailerfn"
)

func main() {
	lambdafn.Main("mailer", func(cfg lambdafn.Config, clients lambdafn.Clients, metrics *lambdafn.EMF, logger *slog.Logger) (any, error) {
		mailCfg, err := lambdafn.LoadMailConfig(os.Getenv)
		if err != nil {
			return nil, err
		}
		h, err := mailerfn.New(cfg, mailCfg, clients, metrics, logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
