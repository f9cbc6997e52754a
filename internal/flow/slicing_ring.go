package flow

import "unsafe"

// swRing holds the older slices of every key of a SliceWindowOp in a place fixed by its slot:
// c slices per slot, the slots of a table chunk side by side. A wake reads the key's entry and
// its older slices from two addresses it knows from the slot alone, so their cache misses
// overlap; before the ring, the older slices were behind the key's ext state, itself behind the
// entry: three misses one after the other. A key whose older slices outgrow c (a large allowed
// lateness, far-apart events) keeps them in its ext state instead (swEnt.over) until they fit
// again.
//
// The ring freezes like keyTable: freeze returns the current chunks for a snapshot, and the first
// write to a chunk of an older epoch copies it.
type swRing[Acc any] struct {
	chunks []*swRingChunk[Acc]
	c      int // slices per slot; 0 for no ring (see swRingCap)
	epoch  uint32
}

type swRingChunk[Acc any] struct {
	s     []swSlice[Acc] // ktChunkLen*c slices
	epoch uint32
}

// swRingCap is the ring's size per key for a window of size/sl slices: the slices of one window
// plus those of its allowed lateness and one ahead, in whole cache lines where the slice size
// allows. There is no ring for tumbling windows (a key rarely holds two slices), nor when a key
// would need more than swRingMax (its slices would never fit: the ring would only cost memory).
func swRingCap[Acc any](size, slide, sl, lateness int64) int {
	n := size/sl + (lateness+sl-1)/sl + 1
	if size == slide || n > swRingMax {
		return 0
	}
	c := int(n)
	sz := int(unsafe.Sizeof(swSlice[Acc]{}))
	for c < swRingMax && c%8 != 0 && (c*sz)%64 != 0 {
		c++
	}
	return c
}

// swRingMax bounds the ring: a window needing more slices has no ring, its keys keep their
// older slices in their ext state.
const swRingMax = 16

// at returns slot's region of c slices, ready for writing: a chunk frozen by a snapshot is copied
// first. It is nil without a ring.
func (r *swRing[Acc]) at(slot int32) []swSlice[Acc] {
	if r.c == 0 {
		return nil
	}
	ci := int(slot >> ktChunkBits)
	for len(r.chunks) <= ci {
		r.chunks = append(r.chunks, &swRingChunk[Acc]{s: make([]swSlice[Acc], ktChunkLen*r.c), epoch: r.epoch})
	}
	ch := r.chunks[ci]
	if ch.epoch != r.epoch {
		ch = &swRingChunk[Acc]{s: append([]swSlice[Acc](nil), ch.s...), epoch: r.epoch}
		r.chunks[ci] = ch
	}
	i := int(slot&(ktChunkLen-1)) * r.c
	return ch.s[i : i+r.c : i+r.c]
}

// touch prefetches the cache lines of the first n slices of slot's region (read only; nothing
// when the region does not exist yet).
func (r *swRing[Acc]) touch(slot int32, from, n int) {
	if ci := int(slot >> ktChunkBits); n > from && ci < len(r.chunks) {
		s := r.chunks[ci].s[int(slot&(ktChunkLen-1))*r.c:]
		prefetchRange(unsafe.Pointer(&s[from]), uintptr(n-from)*unsafe.Sizeof(s[0]))
	}
}

func (r *swRing[Acc]) freeze() swRingView[Acc] {
	v := r.view()
	v.chunks = append([]*swRingChunk[Acc](nil), r.chunks...)
	r.epoch++
	return v
}

// view returns the ring as it is, for a reader on the operator's goroutine that is done before
// the next write.
func (r *swRing[Acc]) view() swRingView[Acc] { return swRingView[Acc]{chunks: r.chunks, c: r.c} }

// swRingView is a frozen copy of a swRing.
type swRingView[Acc any] struct {
	chunks []*swRingChunk[Acc]
	c      int
}

// older returns the older slices of the key in slot, whose entry is e and ext state x.
func (v *swRingView[Acc]) older(slot int32, e *swEnt[Acc], x *swExt[Acc]) []swSlice[Acc] {
	if e.over {
		return x.older
	}
	if e.nold == 0 {
		return nil
	}
	i := int(slot&(ktChunkLen-1)) * v.c
	return v.chunks[slot>>ktChunkBits].s[i : i+int(e.nold)]
}

// swSlices views a key's slices in start order: its older slices, then its newest.
type swSlices[Acc any] struct {
	e      *swEnt[Acc]
	x      *swExt[Acc]    // nil when the key has no ext
	region []swSlice[Acc] // the key's place in the ring (nil without a ring)
	older  []swSlice[Acc] // in region, or in x.older when e.over
}

// slices sets s to the slices of the key in slot, ready for writing. A view is filled in place
// and passed by pointer: copies of it, written and read back at once, would stall on store
// forwarding.
func (o *SliceWindowOp[K, In, Acc]) slices(slot int32, s *swSlices[Acc]) {
	e := o.entry(slot)
	s.e, s.x, s.region = e, o.extOf(e, false), o.ring.at(slot)
	if e.over {
		s.older = s.x.older
	} else {
		s.older = s.region[:e.nold]
	}
}

func (s *swSlices[Acc]) len() int {
	if !s.e.has {
		return 0
	}
	return len(s.older) + 1
}

// at returns the i-th slice in start order.
func (s *swSlices[Acc]) at(i int) *swSlice[Acc] {
	if i == len(s.older) {
		return &s.e.newest
	}
	return &s.older[i]
}

// store records the length of the older slices after a change.
func (s *swSlices[Acc]) store() {
	if s.e.over {
		s.x.older = s.older
		if len(s.older) <= len(s.region) { // they fit in the ring again
			n := copy(s.region, s.older)
			clear(s.older)
			s.x.older = s.older[:0]
			s.older = s.region[:n]
			s.e.over = false
		}
	}
	if !s.e.over {
		s.e.nold = uint8(len(s.older))
	}
}

// insert puts v at index i in start order (0 <= i <= len).
func (o *SliceWindowOp[K, In, Acc]) insert(s *swSlices[Acc], i int, v swSlice[Acc]) {
	if !s.e.has {
		s.e.newest, s.e.has = v, true
		return
	}
	if !s.e.over && len(s.older) == len(s.region) { // the ring is full: move to the ext state
		if s.x == nil {
			s.x = o.extOf(s.e, true)
		}
		s.x.older = append(s.x.older[:0], s.older...)
		clear(s.older)
		s.older, s.e.over, s.e.nold = s.x.older, true, 0
	}
	if i > len(s.older) {
		s.older = append(s.older, s.e.newest)
		s.e.newest = v
	} else {
		s.older = append(s.older, swSlice[Acc]{})
		copy(s.older[i+1:], s.older[i:])
		s.older[i] = v
	}
	s.store()
}

// dropFront removes the first m slices.
func (s *swSlices[Acc]) dropFront(m int) {
	if m >= s.len() {
		s.reset()
		return
	}
	k := copy(s.older, s.older[m:])
	clear(s.older[k:])
	s.older = s.older[:k]
	s.store()
}

func (s *swSlices[Acc]) reset() {
	clear(s.older)
	s.older = s.older[:0]
	s.store()
	s.e.newest, s.e.has = swSlice[Acc]{}, false
}
