package sluice

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/state/codec"
)

// stateCodecs makes the codecs a keyed operator needs for checkpoints. A type that cannot be
// encoded is not an error until a checkpoint is taken: pipelines without checkpoints may use any
// type.
func stateCodecs[K comparable, V any](uid string) flow.StateCodecs[K, V] {
	kc, kerr := codec.For[K]()
	vc, verr := codec.For[V]()
	err := errors.Join(kerr, verr)
	if err != nil {
		err = fmt.Errorf("operator %q cannot checkpoint its state: %w", uid, err)
	}
	return flow.StateCodecs[K, V]{UID: uid, Key: kc, Value: vc, Hash: flow.KeyHasher[K](), Err: err}
}
