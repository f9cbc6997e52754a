package flow

import "maps"

// MemSpillStore is the tests' in-memory SpillStore, for the external tests of the package.
type MemSpillStore = memSpillStore

// NewMemSpillStore returns an empty MemSpillStore.
func NewMemSpillStore() *MemSpillStore { return newMemSpillStore() }

// Len is the number of stored keys.
func (s *memSpillStore) Len() int { return len(s.m) }

// Sets is the number of Set calls.
func (s *memSpillStore) Sets() int { return s.sets }

// Capture copies the store, as a checkpoint's capture of it.
func (s *memSpillStore) Capture() *MemSpillStore {
	c := newMemSpillStore()
	maps.Copy(c.m, s.m)
	maps.Copy(c.lastKG, s.lastKG)
	return c
}

// RestoreRange builds a store of the entries of key groups [start, end) of caps, as
// pebble.RestoreRange does.
func RestoreRange(start, end int, caps ...*MemSpillStore) *MemSpillStore {
	st := newMemSpillStore()
	for _, c := range caps {
		for k, v := range c.m {
			if kg := c.lastKG[k]; kg >= start && kg < end {
				st.m[k], st.lastKG[k] = v, kg
			}
		}
	}
	return st
}
