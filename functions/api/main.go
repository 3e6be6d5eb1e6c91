// Command api is the Lambda function behind the configuration API (API Gateway HTTP API with a
// JWT authorizer).
package main

import (
	"log/slog"

	"github.com/heraldhq/herald/infra/lambdafn"
)

func main() {
	lambdafn.Main("api", func(cfg lambdafn.Config, clients lambdafn.Clients, logger *slog.Logger) (any, error) {
		return lambdafn.NewAPI(cfg, clients, logger)
	})
}
