// Command api is the Lambda function behind the configuration API (API Gateway HTTP API with a
// JWT authorizer).
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/heraldhq/herald/infra/lambdafn"
	"github.com/heraldhq/herald/infra/lambdafn/apifn"
)

func main() {
	lambdafn.Main("api", func(cfg lambdafn.Config, clients lambdafn.Clients, _ *lambdafn.EMF, logger *slog.Logger) (any, error) {
		slack, err := lambdafn.LoadSlackConfig(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("read Slack configuration: %w", err)
		}
		mail, err := lambdafn.LoadMailConfig(os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("read mail configuration: %w", err)
		}
		return apifn.New(cfg, clients, logger, apifn.WithSlack(slack), apifn.WithUnsubscribeKey(mail.UnsubscribeKey),
			apifn.WithConsole(apifn.LoadConsoleOIDC(os.Getenv)))
	})
}
