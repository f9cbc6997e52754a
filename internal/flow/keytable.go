package flow

import (
	"errors"
	"hash/maphash"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// keyTable maps the keys of a keyed operator to dense slots and holds a value of type V inline
// with each key, so that an element's lookup ends at the cache line that holds its state: the
// key (compared to confirm the match) and the operator's hottest data side by side.
//
// The index is open-addressed with linear probing over 8-byte entries (32 bits of the key's
// hash as a tag, and the slot), indexed by the hash's top bits: a key group's keys share the
// low bits (KeyGroup takes hash mod 128), so the top bits are the ones that spread a subtask's
// keys. A lookup reads one index entry (a table of 16 bytes per key fits the caches far better
// than the states) and then the slot's entry. Removal leaves a tombstone; the index is rebuilt
// when tombstones and live entries fill three quarters of it.
//
// Entries live in chunks of ktChunkLen slots that are never moved, so slots and pointers into
// them stay valid while the table grows. The chunks also make snapshots cheap: freeze returns
// the current chunks and starts a new epoch, and the first write to a chunk of an older epoch
// (at) copies it, leaving the frozen chunk untouched for a reader on another goroutine.
type keyTable[K comparable, V any] struct {
	idx    []ktIdx
	shift  uint8 // 64 - log2(len(idx))
	used   int   // index entries not empty: live and tombstones
	n      int   // live keys
	chunks []*ktChunk[K, V]
	cep    []uint32 // the epoch of each chunk, beside the chunks (see ktChunk.ent)
	slots  int32    // slots handed out (the high-water mark)
	free   []int32
	epoch  uint32
	hash   func(K) uint64
	strKey bool        // K is a string: hashAll reads its bytes first
	kver   uint64      // counts the changes of keys: a changed chunk's kgen takes the next value
	keys   *ktKeyCache // the keys encoded by the last snapshot, per chunk
	// frozen counts the views of freeze not yet released; retired holds the chunks replaced by
	// copies since, which those views may still read, and spare the retired chunks no view
	// reads any more, reused for the next copies (see thaw). spare is a sync.Pool: a garbage
	// collection empties it, so spare chunks cost no more memory than the garbage they avoid.
	frozen  *atomic.Int32
	retired []*ktChunk[K, V]
	spare   *sync.Pool
}

const (
	ktChunkBits = 10
	ktChunkLen  = 1 << ktChunkBits
	ktMinIdx    = 16
	ktTomb      = 2 // the tag of a removed entry; live tags are odd, empty ones 0
)

type ktIdx struct {
	tag  uint32
	slot int32
}

// ktChunk is a chunk of entries. The entries come first: a chunk is a large allocation, which
// starts on a page, so entries of 64 bytes each sit in one cache line. Its epoch is kept in
// keyTable.cep, not here: see ent.
type ktChunk[K comparable, V any] struct {
	e    [ktChunkLen]ktEnt[K, V]
	kgen uint64 // the table's kver when a key of the chunk last changed
}

// ent returns entry i&(ktChunkLen-1) of the chunk. It computes the address without reading the
// chunk: chunks are large allocations that start on a page, so the first (and the last) lines
// of all chunks fall in a few cache sets and evict one another, and a read of one of them
// (the nil check that &c.e[i] compiles to, or an epoch field) would miss the caches on nearly
// every access.
func (c *ktChunk[K, V]) ent(i int32) *ktEnt[K, V] {
	return (*ktEnt[K, V])(unsafe.Add(unsafe.Pointer(c), uintptr(i&(ktChunkLen-1))*unsafe.Sizeof(ktEnt[K, V]{})))
}

type ktEnt[K comparable, V any] struct {
	key K
	val V
}

// ktTag is the top half of the hash (its lowest bit set): it holds the bits that place the key
// in the index (the index has at most 2^31 entries), so a rebuild needs neither the key nor its
// hash, and what tells apart keys in one probe run are the tag's remaining bits.
func ktTag(h uint64) uint32 { return uint32(h>>32) | 1 }

// ktHome is where the probe run of a key with tag tag starts in an index of 64-shift bits.
func ktHome(tag uint32, shift uint8) uint64 { return uint64(tag) << 32 >> shift }

// tableHash returns the hash the table uses for K: the deterministic key hash where it is cheap
// (strings, integers, booleans), the runtime's hash of comparable values otherwise, floats
// included (it hashes -0 like +0, which == finds equal). The table's hash is never stored in a
// checkpoint.
func tableHash[K comparable]() func(K) uint64 {
	var z K
	switch reflect.TypeOf(&z).Elem().Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr,
		reflect.Int32, reflect.Uint32, reflect.Int16, reflect.Uint16, reflect.Int8, reflect.Uint8,
		reflect.Bool:
		return KeyHasher[K]()
	}
	seed := maphash.MakeSeed()
	return func(k K) uint64 { return maphash.Comparable(seed, k) }
}

func newKeyTable[K comparable, V any]() keyTable[K, V] {
	var z K
	return keyTable[K, V]{idx: make([]ktIdx, ktMinIdx), shift: 64 - 4, hash: tableHash[K](),
		strKey: reflect.TypeOf(&z).Elem().Kind() == reflect.String, keys: &ktKeyCache{}, frozen: new(atomic.Int32), spare: new(sync.Pool)}
}

// touchKey prefetches the bytes of a string key (nothing for other types).
func (t *keyTable[K, V]) touchKey(k *K) {
	if s := *(*string)(unsafe.Pointer(k)); t.strKey && len(s) > 0 {
		prefetch(uintptr(unsafe.Pointer(unsafe.StringData(s))))
	}
}

// len is the number of keys.
func (t *keyTable[K, V]) len() int { return t.n }

// find returns the key's slot.
func (t *keyTable[K, V]) find(h uint64, k K) (int32, bool) {
	mask := uint64(len(t.idx) - 1)
	tag := ktTag(h)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		x := t.idx[i]
		if x.tag == tag && t.chunks[x.slot>>ktChunkBits].ent(x.slot).key == k {
			return x.slot, true
		}
		if x.tag == 0 {
			return 0, false
		}
	}
}

// add inserts a key that is not in the table and returns its slot, whose value is zero.
func (t *keyTable[K, V]) add(h uint64, k K) int32 {
	if (t.used+1)*4 > len(t.idx)*3 {
		t.rebuild()
	}
	var s int32
	if n := len(t.free); n > 0 {
		s = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		s = t.slots
		if int(s>>ktChunkBits) == len(t.chunks) {
			t.chunks = append(t.chunks, &ktChunk[K, V]{})
			t.cep = append(t.cep, t.epoch)
		}
		t.slots++
	}
	t.at(s).key = k
	t.keyChanged(s)
	t.place(h, s)
	t.n++
	return s
}

// place puts slot s in the index, in the first free or removed entry of its probe sequence.
func (t *keyTable[K, V]) place(h uint64, s int32) { t.placeTag(ktTag(h), s) }

func (t *keyTable[K, V]) placeTag(tag uint32, s int32) {
	mask := uint64(len(t.idx) - 1)
	for i := ktHome(tag, t.shift); ; i = (i + 1) & mask {
		if x := &t.idx[i]; x.tag&1 == 0 {
			if x.tag == 0 {
				t.used++
			}
			*x = ktIdx{tag: tag, slot: s}
			return
		}
	}
}

// rebuild rehashes the live keys into an index sized for them (dropping the tombstones).
func (t *keyTable[K, V]) rebuild() {
	size := ktMinIdx
	for size < (t.n+1)*2 { // at most half full after a rebuild: room to grow to 3/4
		size *= 2
	}
	if size > 1<<31 {
		// A pipeline failure with a message, not a crash: the run ends with this error.
		Fail(errors.New("more than 2^30 keys in one operator subtask: raise the parallelism of the keyed stage"))
	}
	old := t.idx
	t.idx = make([]ktIdx, size)
	t.shift = 64
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	t.used = 0
	for _, x := range old {
		if x.tag&1 == 1 {
			t.placeTag(x.tag, x.slot)
		}
	}
}

// remove deletes the key in slot s and frees the slot; its entry is zeroed.
func (t *keyTable[K, V]) remove(s int32) {
	e := t.at(s)
	h := t.hash(e.key)
	mask := uint64(len(t.idx) - 1)
	for i := h >> t.shift; ; i = (i + 1) & mask {
		x := &t.idx[i]
		if x.tag&1 == 1 && x.slot == s {
			if t.idx[(i+1)&mask].tag == 0 { // the end of a probe run: no tombstone needed
				*x = ktIdx{}
				t.used--
				for j := (i - 1) & mask; t.idx[j].tag == ktTomb; j = (j - 1) & mask {
					t.idx[j] = ktIdx{}
					t.used--
				}
			} else {
				*x = ktIdx{tag: ktTomb}
			}
			break
		}
		if x.tag == 0 {
			panic("flow: keyTable.remove of a slot not in the index")
		}
	}
	*e = ktEnt[K, V]{}
	t.keyChanged(s)
	t.free = append(t.free, s)
	t.n--
}

// keyChanged records that slot s's key changed, for the key cache of snapshots.
func (t *keyTable[K, V]) keyChanged(s int32) {
	t.kver++
	t.chunks[s>>ktChunkBits].kgen = t.kver
}

// at returns slot s's entry for reading and writing: a chunk frozen by a snapshot is copied
// first.
func (t *keyTable[K, V]) at(s int32) *ktEnt[K, V] {
	ci := s >> ktChunkBits
	if t.cep[ci] != t.epoch {
		return t.thaw(ci).ent(s)
	}
	return t.chunks[ci].ent(s)
}

// thaw replaces frozen chunk ci by a copy for writing. The copy goes into a spare chunk when
// there is one: with a checkpoint every interval, a table whose chunks are all written in every
// interval would otherwise allocate (and the collector reclaim) its whole size each time.
func (t *keyTable[K, V]) thaw(ci int32) *ktChunk[K, V] {
	var c *ktChunk[K, V]
	if t.spare != nil {
		if len(t.retired) > 0 && t.frozen.Load() == 0 {
			t.spareRetired()
		}
		c, _ = t.spare.Get().(*ktChunk[K, V])
	}
	if c == nil {
		c = new(ktChunk[K, V])
	}
	old := t.chunks[ci]
	*c = *old
	t.chunks[ci] = c
	t.cep[ci] = t.epoch
	if t.frozen != nil {
		t.retired = append(t.retired, old)
	}
	return c
}

// each calls f for every live slot, in index order.
func (t *keyTable[K, V]) each(f func(s int32)) {
	for _, x := range t.idx {
		if x.tag&1 == 1 {
			f(x.slot)
		}
	}
}

// freeze returns a view of every entry as it is now, which later writes do not change: the
// caller may read it on another goroutine. Free slots have zero entries.
//
// The caller releases the view when done with it (release), so that the chunks it alone reads
// serve as the copies of later writes; a view never released only stops that reuse.
func (t *keyTable[K, V]) freeze() ktView[K, V] {
	if t.frozen != nil {
		if t.frozen.Load() == 0 {
			t.spareRetired()
		} else { // a view is still read (or was never released): leave its chunks to the collector
			clear(t.retired)
			t.retired = t.retired[:0]
		}
		t.frozen.Add(1)
	}
	v := ktView[K, V]{chunks: append([]*ktChunk[K, V](nil), t.chunks...), slots: t.slots, keys: t.keys, frozen: t.frozen}
	t.epoch++
	return v
}

// view returns the entries as they are, for a reader on the table's goroutine that is done
// before the next write.
func (t *keyTable[K, V]) view() ktView[K, V] {
	return ktView[K, V]{chunks: t.chunks, slots: t.slots, keys: t.keys}
}

// spareRetired makes the retired chunks spare; every view was released, so nobody reads them.
func (t *keyTable[K, V]) spareRetired() {
	for _, c := range t.retired {
		t.spare.Put(c)
	}
	clear(t.retired)
	t.retired = t.retired[:0]
}

// ktView is a frozen copy of a keyTable's entries.
type ktView[K comparable, V any] struct {
	chunks []*ktChunk[K, V]
	slots  int32
	keys   *ktKeyCache
	frozen *atomic.Int32 // set for a view of freeze, until released
}

// release ends the use of a view of freeze: its chunks may be reused. Call it once, after the
// last read; it does nothing for a view of view.
func (v *ktView[K, V]) release() {
	if v.frozen != nil {
		v.frozen.Add(-1)
		v.frozen, v.chunks = nil, nil
	}
}

func (v *ktView[K, V]) at(s int32) *ktEnt[K, V] {
	return v.chunks[s>>ktChunkBits].ent(s)
}

// cowArray is a growable array in never-moving chunks with the same copy-on-write freezing as
// keyTable, for state kept beside a table's entries.
type cowArray[T any] struct {
	chunks []*cowChunk[T]
	n      int32
	free   []int32
	epoch  uint32
}

type cowChunk[T any] struct {
	e     [ktChunkLen]T // first, as in ktChunk
	epoch uint32
}

// alloc returns a free index; its element is zero.
func (a *cowArray[T]) alloc() int32 {
	if n := len(a.free); n > 0 {
		i := a.free[n-1]
		a.free = a.free[:n-1]
		return i
	}
	i := a.n
	if int(i>>ktChunkBits) == len(a.chunks) {
		a.chunks = append(a.chunks, &cowChunk[T]{epoch: a.epoch})
	}
	a.n++
	return i
}

// peek returns element i for reading only (it may belong to a frozen chunk).
func (a *cowArray[T]) peek(i int32) *T { return &a.chunks[i>>ktChunkBits].e[i&(ktChunkLen-1)] }

// at returns element i for reading and writing, copying a frozen chunk first.
func (a *cowArray[T]) at(i int32) *T {
	c := a.chunks[i>>ktChunkBits]
	if c.epoch != a.epoch {
		nc := new(cowChunk[T])
		*nc = *c
		nc.epoch = a.epoch
		a.chunks[i>>ktChunkBits] = nc
		c = nc
	}
	return &c.e[i&(ktChunkLen-1)]
}

func (a *cowArray[T]) freeze() cowView[T] {
	v := cowView[T]{chunks: append([]*cowChunk[T](nil), a.chunks...)}
	a.epoch++
	return v
}

// view returns the elements as they are, for a reader on the array's goroutine that is done
// before the next write.
func (a *cowArray[T]) view() cowView[T] { return cowView[T]{chunks: a.chunks} }

// cowView is a frozen copy of a cowArray.
type cowView[T any] struct{ chunks []*cowChunk[T] }

func (v *cowView[T]) at(i int32) *T { return &v.chunks[i>>ktChunkBits].e[i&(ktChunkLen-1)] }

// touchHomes prefetches the index entries where the hashes' probe runs start.
func (t *keyTable[K, V]) touchHomes(hs []uint64) {
	for _, h := range hs {
		prefetch(uintptr(unsafe.Pointer(&t.idx[h>>t.shift])))
	}
}

// touchHome prefetches the index entry where the probe run of hash h starts.
func (t *keyTable[K, V]) touchHome(h uint64) { prefetch(uintptr(unsafe.Pointer(&t.idx[h>>t.shift]))) }

// candidate returns the slot of the first index entry in the probe run of h whose tag matches
// (the key's slot unless two keys share a tag), or -1.
func (t *keyTable[K, V]) candidate(h uint64) int32 {
	mask := uint64(len(t.idx) - 1)
	tag := ktTag(h)
	for j, n := h>>t.shift, 0; n < 8; j, n = (j+1)&mask, n+1 {
		if e := t.idx[j]; e.tag == tag {
			return e.slot
		} else if e.tag == 0 {
			break
		}
	}
	return -1
}

// touchEnt prefetches slot s's entry.
func (t *keyTable[K, V]) touchEnt(s int32) { prefetch(uintptr(unsafe.Pointer(t.peek(s)))) }

// peek returns slot s's entry for reading only (it may belong to a frozen chunk).
func (t *keyTable[K, V]) peek(s int32) *ktEnt[K, V] {
	return t.chunks[s>>ktChunkBits].ent(s)
}

// prefetchRange prefetches every cache line of the n bytes at p (n > 0).
func prefetchRange(p unsafe.Pointer, n uintptr) {
	a := uintptr(p)
	for l := a &^ 63; l < a+n; l += 64 {
		prefetch(l)
	}
}
