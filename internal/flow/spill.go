package flow

import (
	"errors"
	"fmt"
)

// Spilling cold keys (docs/state-backends.md, section 3).
//
// A keyed operator keeps its hot keys in its own in-memory structures, as with the memory
// backend. When it holds more keys than its budget, Spill evicts cold ones to a SpillStore (the
// Pebble store of the operator subtask): the store key is the key's codec bytes under its key
// group, the value the key's snapshot record without the key (the operator's AppendKeyState), so
// eviction, loading and checkpoints share one codec. A key that is not in memory is loaded back
// on access.
//
// Invariants (numbered as in the design):
//
//  1. Memory shadows the store: every access looks in memory first, and a key in memory is
//     authoritative even when the store holds an older copy. Loading does not delete the stored
//     copy, and evicting a key that did not change since it was loaded writes nothing (the
//     dirty bit).
//  2. A key in the store is deleted when its state ends in memory (Forget, when the inStore bit
//     says the store may hold a copy), so a purged key does not come back on its next load.
//  3. Keys restored into memory are marked inStore: they shadow whatever the restored store holds.
//  4. Never evict the key being processed: the operator's evictable says no for its current key,
//     and operators call MaybeEvict between records only.
//  5. Keys are encoded with a deterministic, injective codec; the key group is
//     KeyGroup(hash, DefaultMaxParallelism), as for snapshots.
//
// Eviction is CLOCK (second chance): Touch sets a reference bit, and a hand sweeps the slots,
// clearing set bits and evicting the first resident, evictable key whose bit is clear. When over
// budget, MaybeEvict evicts down to 98% of it, so evictions come in runs.

// SpillStore holds the records of a keyed operator's cold keys. The Pebble store of package
// state/pebble satisfies it. Keys are grouped by key group (kg, in [0, DefaultMaxParallelism)).
// A store belongs to its operator's task goroutine.
type SpillStore interface {
	// Get appends the value of key to dst and returns it, and whether key is present.
	Get(kg int, key, dst []byte) ([]byte, bool, error)
	// Set stores value under key; the store does not retain key or value.
	Set(kg int, key, value []byte) error
	// Delete removes key.
	Delete(kg int, key []byte) error
	// Iterate calls f for every entry of key groups [kgStart, kgEnd), in key-group order; f must
	// not retain key or value.
	Iterate(kgStart, kgEnd int, f func(kg int, key, value []byte) error) error
}

// SpillCapture is a spill store's consistent view taken at a checkpoint barrier. The runtime
// uploads it into the checkpoint off the task goroutine, then releases it.
type SpillCapture interface {
	// Release frees the capture.
	Release() error
}

// SpillCapturer is implemented by spill stores that take part in checkpoints. Task.Checkpoint
// calls CaptureSpill on the task goroutine right after the operator's SnapshotState, so the
// capture and the snapshot of the hot keys describe the same instant.
type SpillCapturer interface {
	CaptureSpill() (SpillCapture, error)
}

// Spiller is implemented by keyed operators that can keep cold keys in a SpillStore.
type Spiller interface {
	Snapshotter
	// SetSpill makes the operator keep at most budget keys in memory (0: none between records)
	// and the others in st. It is called once, before RestoreState, with st already holding
	// what it restored (a fresh store is noticed, so new keys cost no store read). It fails
	// when the operator's keys or state cannot be encoded.
	SetSpill(st SpillStore, budget int) error
	// SpillStore returns the store given to SetSpill, nil when the operator does not spill.
	SpillStore() SpillStore
}

// spillable is what Spill needs of a keyed operator's state.
type spillable[K comparable] interface {
	// slotOf returns k's slot if the operator has one for k, resident or not.
	slotOf(k K) (int32, bool)
	// evictable returns the key of slot and whether it may be evicted now: it is not the
	// operator's current key (invariant 4).
	evictable(slot int32) (K, bool)
	// AppendKeyState appends the record of the key in slot, without the key (the body of its
	// snapshot record); empty reports that the key has no state to keep.
	AppendKeyState(dst []byte, slot int32) (_ []byte, empty bool)
	// LoadKeyState rebuilds k's state from body (nil: no state) into k's slot, allocating one
	// if k has none, and returns the slot. Timers are not touched.
	LoadKeyState(k K, body []byte) (int32, error)
	// DropSlot releases the in-memory state of slot; the operator frees the slot unless it
	// still needs it (an evicted key's timers).
	DropSlot(slot int32)
}

// errStop ends an iteration early.
var errStop = errors.New("stop")

// StoreEmpty reports whether st holds no key (a fresh store), for Spill.Empty.
func StoreEmpty(st SpillStore) (bool, error) {
	empty := true
	err := st.Iterate(0, DefaultMaxParallelism, func(int, []byte, []byte) error {
		empty = false
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, err
	}
	return empty, nil
}

// Per-slot bits of Spill.
const (
	spillRef      uint8 = 1 << iota // referenced since the CLOCK hand last passed
	spillDirty                      // changed since loaded (or new): an eviction must write it
	spillInStore                    // the store may hold a copy of the key
	spillResident                   // the key's state is in memory
)

// Spill keeps a keyed operator's key count within a budget by evicting cold keys to a
// SpillStore and loading them back on access. It is used by one goroutine.
type Spill[K comparable] struct {
	// Store receives the cold keys.
	Store SpillStore
	// Budget is the number of keys kept in memory between records; 0 evicts every key after
	// each record (every access goes through the store).
	Budget int
	// Key encodes keys (deterministic and injective).
	Key Codec[K]
	// Hash assigns keys to key groups, as the KeyBy exchange does.
	Hash func(K) uint64
	// Empty says the store holds nothing (a fresh start): until the first eviction writes to
	// it, keys not in memory are new and need no Get (a Get of a missing key costs microseconds
	// even when Bloom filters answer it).
	Empty bool

	flags    []uint8
	resident int
	hand     int32
	kbuf     []byte
	vbuf     []byte

	// Loads, Evictions, Writes and Deletes count store traffic: keys loaded, keys evicted,
	// evictions that wrote the key (dirty), and deletions (invariant 2).
	Loads, Evictions, Writes, Deletes int64
}

// Resident is the number of keys in memory.
func (s *Spill[K]) Resident() int { return s.resident }

func (s *Spill[K]) flag(slot int32) uint8 {
	if int(slot) < len(s.flags) {
		return s.flags[slot]
	}
	return 0
}

func (s *Spill[K]) set(slot int32, f uint8) {
	s.flags = growTo(s.flags, slot)
	s.flags[slot] = f
}

// IsResident reports whether slot's state is in memory.
func (s *Spill[K]) IsResident(slot int32) bool { return s.flag(slot)&spillResident != 0 }

// InStore reports whether the store may hold a copy of slot's key.
func (s *Spill[K]) InStore(slot int32) bool { return s.flag(slot)&spillInStore != 0 }

// storeKey returns k's key group and encoded key (in a scratch buffer).
func (s *Spill[K]) storeKey(k K) (int, []byte) {
	s.kbuf = s.Key.Append(s.kbuf[:0], k)
	return KeyGroup(s.Hash(k), DefaultMaxParallelism), s.kbuf
}

// Lookup returns k's slot with its state in memory, loading it from the store when needed;
// ok=false means k has no state anywhere (the caller creates it and calls Added). With
// promote=false (a one-off access, such as a timer) a loaded key is not marked referenced: the
// caller evicts it again afterwards (EvictKey) rather than make room for it.
func (s *Spill[K]) Lookup(op spillable[K], k K, promote bool) (slot int32, ok bool, err error) {
	slot, known := op.slotOf(k)
	if known {
		f := s.flag(slot)
		if f&spillResident != 0 {
			if promote {
				s.flags[slot] |= spillRef
			}
			return slot, true, nil
		}
		if f&spillInStore == 0 {
			return slot, false, nil // an evicted key that had no state (only timers)
		}
	}
	return s.load(op, k, promote)
}

// LoadSlot makes the state of slot's key, k, resident (for a timer of an evicted key). It does
// not promote the key.
func (s *Spill[K]) LoadSlot(op spillable[K], slot int32, k K) error {
	f := s.flag(slot)
	if f&spillResident != 0 {
		return nil
	}
	if f&spillInStore != 0 {
		if _, ok, err := s.load(op, k, false); err != nil || ok {
			return err
		}
	}
	s.Added(slot, false) // nothing stored: the key had timers only
	s.flags[slot] &^= spillRef
	return nil
}

func (s *Spill[K]) load(op spillable[K], k K, promote bool) (int32, bool, error) {
	if s.Empty {
		slot, _ := op.slotOf(k)
		return slot, false, nil
	}
	kg, key := s.storeKey(k)
	body, found, err := s.Store.Get(kg, key, s.vbuf[:0])
	if err != nil {
		return -1, false, fmt.Errorf("loading key %v from the spill store: %w", k, err)
	}
	if !found {
		slot, _ := op.slotOf(k)
		return slot, false, nil
	}
	s.vbuf = body
	slot, err := op.LoadKeyState(k, body)
	if err != nil {
		return -1, false, fmt.Errorf("loading key %v from the spill store: %w", k, err)
	}
	f := spillResident | spillInStore
	if promote {
		f |= spillRef
	}
	if s.flag(slot)&spillResident == 0 {
		s.resident++
	}
	s.set(slot, f)
	s.Loads++
	return slot, true, nil
}

// Added records a key whose state was created in memory (new, or restored from a checkpoint's
// hot records: inStore then, invariant 3). It is dirty: evicting it writes it. It is not marked
// referenced: a key seen once goes before keys seen again (scan resistance), as in CLOCK-Pro.
func (s *Spill[K]) Added(slot int32, inStore bool) {
	if s.flag(slot)&spillResident == 0 {
		s.resident++
	}
	f := spillResident | spillDirty
	if inStore || s.flag(slot)&spillInStore != 0 {
		f |= spillInStore
	}
	s.set(slot, f)
}

// AddedNew records a new key (its state created in memory, nothing of it in the store) in a
// slot that the operator may have freed when it evicted another key: unlike Added, it keeps no
// bit that the slot's previous key left (inStore), so the new key's end deletes nothing.
func (s *Spill[K]) AddedNew(slot int32) {
	if s.flag(slot)&spillResident == 0 {
		s.resident++
	}
	s.set(slot, spillResident|spillDirty)
}

// Stub records slot as an evicted key whose state the store may hold (a checkpoint's record of
// an evicted key that has timers).
func (s *Spill[K]) Stub(slot int32) {
	if s.flag(slot)&spillResident != 0 {
		s.resident--
	}
	s.set(slot, spillInStore)
}

// Dirty records that slot's state may have changed, without counting an access (Lookup with
// promote counts it).
func (s *Spill[K]) Dirty(slot int32) { s.flags[slot] |= spillDirty }

// Release clears the flags of slot, which its operator freed after evicting its key: an
// operator that keeps no stub hands the slot to the next key, which must not inherit them.
func (s *Spill[K]) Release(slot int32) {
	if int(slot) < len(s.flags) {
		s.flags[slot] = 0
	}
}

// Touch records an access to slot; dirty says its state may have changed.
func (s *Spill[K]) Touch(slot int32, dirty bool) {
	f := spillRef
	if dirty {
		f |= spillDirty
	}
	s.flags[slot] |= f
}

// EvictKey moves the key in slot out of memory: it writes the key's record to the store when
// the key changed since it was loaded (or deletes the stored copy when the key has no state
// left), then drops the slot.
func (s *Spill[K]) EvictKey(op spillable[K], slot int32) error {
	k, ok := op.evictable(slot)
	f := s.flag(slot)
	if !ok || f&spillResident == 0 {
		return nil
	}
	body, empty := op.AppendKeyState(s.vbuf[:0], slot)
	s.vbuf = body
	var err error
	inStore := f&spillInStore != 0
	switch {
	case empty && inStore:
		kg, key := s.storeKey(k)
		err = s.Store.Delete(kg, key)
		s.Deletes++
		inStore = false
	case !empty && f&spillDirty != 0:
		kg, key := s.storeKey(k)
		s.Empty = false
		err = s.Store.Set(kg, key, body)
		s.Writes++
		inStore = true
	}
	if err != nil {
		return fmt.Errorf("evicting key %v to the spill store: %w", k, err)
	}
	s.resident--
	s.Evictions++
	s.flags[slot] = 0
	if inStore {
		s.flags[slot] = spillInStore
	}
	op.DropSlot(slot)
	return nil
}

// Forget records that k's state ended in memory (the operator then frees slot): a copy in the
// store is deleted (invariant 2).
func (s *Spill[K]) Forget(k K, slot int32) error {
	f := s.flag(slot)
	if f&spillResident != 0 {
		s.resident--
	}
	if int(slot) < len(s.flags) {
		s.flags[slot] = 0
	}
	if f&spillInStore == 0 {
		return nil
	}
	kg, key := s.storeKey(k)
	s.Deletes++
	if err := s.Store.Delete(kg, key); err != nil {
		return fmt.Errorf("deleting key %v from the spill store: %w", k, err)
	}
	return nil
}

// MaybeEvict evicts cold keys while more than Budget keys are in memory, down to 98% of the
// budget. Call it between records only (invariant 4).
func (s *Spill[K]) MaybeEvict(op spillable[K]) error {
	if s.resident <= s.Budget {
		return nil
	}
	target := s.Budget - s.Budget/50
	n := int32(len(s.flags))
	// Two passes clear every reference bit; a third finds a victim if any slot is evictable.
	for steps := 3 * n; s.resident > target && steps > 0; steps-- {
		slot := s.hand
		if s.hand++; s.hand >= n {
			s.hand = 0
		}
		f := s.flags[slot]
		if f&spillResident == 0 {
			continue
		}
		if f&spillRef != 0 {
			s.flags[slot] = f &^ spillRef
			continue
		}
		if err := s.EvictKey(op, slot); err != nil {
			return err
		}
	}
	return nil
}
