package flow

import "sync"

// ktKeyCache keeps the keys of a keyTable encoded for snapshots, chunk by chunk, with their key
// groups. A key does not change while it holds its slot, so a snapshot encodes again only the
// keys of chunks that gained or lost keys since the last one (their kgen changed), and copies
// the others' bytes in slot order instead of chasing every key's bytes across the heap (with 1M
// keys, a cache miss per key was most of a snapshot's time). It costs the encoded keys and 6
// bytes per slot.
//
// Snapshots of one table take the cache's lock for their whole encoding, so a frozen view
// encoded on another goroutine and a synchronous snapshot never share it at once.
type ktKeyCache struct {
	mu     sync.Mutex
	chunks []ktKeyChunk
}

// ktKeyChunk is the encoding of one chunk's keys: slot i's key is buf[ends[i-1]:ends[i]] and
// its key group groups[i]. n is the number of slots encoded (the table's high-water mark may
// end inside the chunk).
type ktKeyChunk struct {
	kgen   uint64
	n      int
	buf    []byte
	ends   []uint32
	groups []uint16
}

// key returns slot i's encoded key and key group.
func (c *ktKeyChunk) key(i int) ([]byte, int) {
	start := uint32(0)
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.buf[start:c.ends[i]], int(c.groups[i])
}

// keyEncoder encodes the keys of a view's chunks through its table's cache. Lock the cache with
// ktView.keyEncoder and release it with end.
type keyEncoder[K comparable, V any] struct {
	v      *ktView[K, V]
	enc    func([]byte, K) []byte
	group  func(K) int
	cur    *ktKeyChunk
	curIdx int
}

// keyEncoder locks the view's cache (if the view has one) for an encoding with enc and group.
func (v *ktView[K, V]) keyEncoder(enc func([]byte, K) []byte, group func(K) int) *keyEncoder[K, V] {
	if v.keys != nil {
		v.keys.mu.Lock()
	}
	return &keyEncoder[K, V]{v: v, enc: enc, group: group, curIdx: -1}
}

// end releases the cache.
func (e *keyEncoder[K, V]) end() {
	if e.v.keys != nil {
		e.v.keys.mu.Unlock()
	}
}

// appendKey appends slot s's encoded key to dst and returns its key group.
func (e *keyEncoder[K, V]) appendKey(dst []byte, s int32) ([]byte, int) {
	if e.v.keys == nil {
		k := e.v.at(s).key
		return e.enc(dst, k), e.group(k)
	}
	ci := int(s >> ktChunkBits)
	if ci != e.curIdx {
		e.cur, e.curIdx = e.chunk(ci), ci
	}
	b, g := e.cur.key(int(s & (ktChunkLen - 1)))
	return append(dst, b...), g
}

// chunk returns the cached encoding of chunk ci, encoding it again if its keys changed or it
// now holds more slots.
func (e *keyEncoder[K, V]) chunk(ci int) *ktKeyChunk {
	kc := e.v.keys
	for len(kc.chunks) <= ci {
		kc.chunks = append(kc.chunks, ktKeyChunk{})
	}
	c := &kc.chunks[ci]
	ch := e.v.chunks[ci]
	n := min(ktChunkLen, int(e.v.slots)-ci*ktChunkLen)
	if c.ends != nil && c.kgen == ch.kgen && c.n == n {
		return c
	}
	if c.ends == nil {
		c.ends = make([]uint32, ktChunkLen)
		c.groups = make([]uint16, ktChunkLen)
	}
	c.buf = c.buf[:0]
	for i := range n {
		k := ch.e[i].key
		c.buf = e.enc(c.buf, k)
		c.ends[i] = uint32(len(c.buf))
		c.groups[i] = uint16(e.group(k))
	}
	c.kgen, c.n = ch.kgen, n
	return c
}
