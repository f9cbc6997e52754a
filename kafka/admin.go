package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// admin is a short-lived client for start-up checks and topic creation.
type admin struct {
	cfg *Config
	cl  *kgo.Client
	adm *kadm.Client
}

func newAdmin(cfg *Config) (*admin, error) {
	opts, err := cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &admin{cfg: cfg, cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (a *admin) close() { a.cl.Close() }

// reach checks that a broker answers within the connect timeout.
func (a *admin) reach(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
	defer cancel()
	if _, err := a.adm.BrokerMetadata(ctx); err != nil {
		return fmt.Errorf("kafka: cannot use broker(s) %s within %s: %w", strings.Join(a.cfg.Brokers, ","), a.cfg.ConnectTimeout, explain(err))
	}
	return nil
}

// partitions returns topic's partition count, or an error naming the topic when it is missing or
// not authorized.
func (a *admin) partitions(ctx context.Context, topic string) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
	defer cancel()
	tds, err := a.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: describing topic %q on %s: %w", topic, strings.Join(a.cfg.Brokers, ","), explain(err))
	}
	td, ok := tds[topic]
	switch {
	case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return 0, fmt.Errorf("kafka: topic %q does not exist on %s", topic, strings.Join(a.cfg.Brokers, ","))
	case td.Err != nil:
		return 0, fmt.Errorf("kafka: topic %q: %w", topic, explain(td.Err))
	}
	return int32(len(td.Partitions)), nil
}

// ensureParts creates topic when it is missing and returns its partition count, waiting (up to
// the connect timeout) for a topic just created to be described.
func (a *admin) ensureParts(ctx context.Context, topic string, partitions int32, configs map[string]*string) (int32, error) {
	if err := a.ensure(ctx, topic, partitions, configs); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(a.cfg.ConnectTimeout)
	for {
		n, err := a.partitions(ctx, topic)
		if err == nil || time.Now().After(deadline) {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensure creates topic when it is missing.
func (a *admin) ensure(ctx context.Context, topic string, partitions int32, configs map[string]*string) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
	defer cancel()
	resp, err := a.adm.CreateTopic(ctx, partitions, a.cfg.ReplicationFactor, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("kafka: creating topic %q: %w", topic, explain(err))
	}
	return nil
}

// explain adds a hint to the errors a user meets first.
func explain(err error) error {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("not authorized (check the ACLs of the principal): %w", err)
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("authentication failed (check the SASL mechanism, user and password): %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer (is a broker listening there, and reachable?): %w", err)
	}
	return err
}
