package cost

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
)

//go:embed prices.json
var pricesJSON []byte

// Prices are the list prices of prices.json.
type Prices struct {
	Region string `json:"region"`
	Source string `json:"source"`
	Taken  string `json:"taken"`
	Status string `json:"status"`
	Prices struct {
		LambdaRequestsPerMillion float64            `json:"lambda_requests_per_million"`
		LambdaGBSecond           map[string]float64 `json:"lambda_gb_second"`
		DynamoWritesPerMillion   float64            `json:"dynamodb_on_demand_write_request_units_per_million"`
		DynamoReadsPerMillion    float64            `json:"dynamodb_on_demand_read_request_units_per_million"`
		SQSStandardPerMillion    float64            `json:"sqs_standard_requests_per_million"`
		SQSFIFOPerMillion        float64            `json:"sqs_fifo_requests_per_million"`
		EventsPerMillion         float64            `json:"eventbridge_custom_events_per_million"`
		LogsIngestionPerGB       float64            `json:"cloudwatch_logs_ingestion_per_gb"`
		SESPerThousand           float64            `json:"ses_emails_per_thousand"`
	} `json:"prices"`
	Estimates struct {
		PlatformLogBytesPerInvocation float64 `json:"lambda_platform_log_bytes_per_invocation"`
	} `json:"estimates"`
}

// LoadPrices reads prices.json, embedded in the package.
func LoadPrices() (Prices, error) {
	var p Prices
	if err := json.Unmarshal(pricesJSON, &p); err != nil {
		return p, fmt.Errorf("read prices.json: %w", err)
	}
	return p, p.Validate()
}

// Validate refuses a price list missing a price or its date: a zero price would make a
// component free without anyone noticing.
func (p Prices) Validate() error {
	pp := p.Prices
	if p.Taken == "" || p.Source == "" {
		return errors.New("prices.json: the date and source of the prices are required")
	}
	for name, v := range map[string]float64{
		"lambda_requests_per_million": pp.LambdaRequestsPerMillion, "dynamodb writes": pp.DynamoWritesPerMillion,
		"dynamodb reads": pp.DynamoReadsPerMillion, "sqs standard": pp.SQSStandardPerMillion, "sqs fifo": pp.SQSFIFOPerMillion,
		"eventbridge": pp.EventsPerMillion, "logs ingestion": pp.LogsIngestionPerGB, "ses": pp.SESPerThousand,
		"lambda gb-s x86_64": pp.LambdaGBSecond["x86_64"], "lambda gb-s arm64": pp.LambdaGBSecond["arm64"],
	} {
		if v <= 0 {
			return fmt.Errorf("prices.json: %s is %v, want a positive price", name, v)
		}
	}
	return nil
}

// GBSecond is the price of a GB-second on an architecture of template.yaml (x86_64 when none
// is given, as on Lambda).
func (p Prices) GBSecond(arch string) (float64, error) {
	if arch == "" {
		arch = "x86_64"
	}
	v, ok := p.Prices.LambdaGBSecond[arch]
	if !ok {
		return 0, fmt.Errorf("prices.json has no GB-second price for architecture %q", arch)
	}
	return v, nil
}
