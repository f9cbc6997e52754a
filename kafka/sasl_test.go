package kafka_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
)

// TestRunSASLMechanisms: Run authenticates with each SASL mechanism it offers against the
// broker's SASL listener (scripts/kafka-dev start --sasl) and commits the exact counts; a wrong
// password fails with an error naming the mechanism's failure.
func TestRunSASLMechanisms(t *testing.T) {
	ctx := kafkatest.Deadline(t, 3*time.Minute)
	broker, saslBroker := kafkatest.Broker(t), kafkatest.SASLBroker(t)
	in := kafkatest.Name("in")
	evs := events(2_000)
	produce(t, ctx, broker, in, evs, 0)
	want := expected(evs)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			out, app := kafkatest.Name("out"), kafkatest.Name("app")
			cfg := config(saslBroker, app)
			cfg.SASL = kafka.SASL{Mechanism: mech, User: kafkatest.SASLUser, Password: kafkatest.SASLPassword}
			if _, err := kafka.Run(ctx, countPipeline(in, out), cfg); err != nil {
				t.Fatal(err)
			}
			if got := committedLines(t, ctx, broker, out); !slices.Equal(got, want) {
				t.Fatalf("%s: committed counts differ from the brute force: got %d, want %d", mech, len(got), len(want))
			}
			cfg.SASL.Password = "wrong"
			cfg.ConnectTimeout = 20 * time.Second
			_, err := kafka.Run(ctx, countPipeline(in, out), cfg)
			if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), saslBroker) {
				t.Fatalf("%s with a wrong password: %v, want an authentication failure naming %s", mech, err, saslBroker)
			}
		})
	}
}
