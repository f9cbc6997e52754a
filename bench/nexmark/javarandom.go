package nexmark

// JavaRandom is a pseudo-random number generator that produces exactly the same sequences as
// java.util.Random: a 48-bit linear congruential generator (multiplier 0x5DEECE66D, addend 0xB)
// whose seed is scrambled with the multiplier on seeding. Beam's Nexmark generator draws every
// event from a fresh java.util.Random seeded with the event id, so reproducing its stream needs
// this exact algorithm, including how each method consumes the underlying state.
//
// The zero value is in the state of Java's new Random(0x5DEECE66D); use [NewJavaRandom] or
// [JavaRandom.SetSeed] to choose the seed. A JavaRandom is not safe for concurrent use.
type JavaRandom struct {
	seed int64
}

const (
	javaRandomMultiplier = 0x5DEECE66D
	javaRandomAddend     = 0xB
	javaRandomMask       = (1 << 48) - 1
	// doubleUnit is 2^-53, the weight of the lowest bit of a NextDouble result.
	doubleUnit = 1.0 / (1 << 53)
)

// NewJavaRandom returns a generator in the state of Java's new Random(seed).
func NewJavaRandom(seed int64) *JavaRandom {
	r := &JavaRandom{}
	r.SetSeed(seed)
	return r
}

// SetSeed resets the generator to the state of Java's new Random(seed) (equivalently
// Random.setSeed(seed)). Only the low 48 bits of seed matter.
func (r *JavaRandom) SetSeed(seed int64) {
	r.seed = (seed ^ javaRandomMultiplier) & javaRandomMask
}

// next advances the state and returns its top bits bits (1 ≤ bits ≤ 32) as Java's
// Random.next(bits) does, including the sign of the 32-bit result when bits is 32.
func (r *JavaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaRandomMultiplier + javaRandomAddend) & javaRandomMask
	return int32(uint64(r.seed) >> (48 - bits))
}

// NextInt returns the next pseudo-random int32 over the whole range, as Java's nextInt().
func (r *JavaRandom) NextInt() int32 {
	return r.next(32)
}

// NextIntn returns a pseudo-random int32 in [0, bound), as Java's nextInt(int bound): a power
// of two bound takes the high bits of one draw; any other bound uses Java's rejection loop, which
// may consume several draws. It panics if bound ≤ 0, where Java throws
// IllegalArgumentException.
func (r *JavaRandom) NextIntn(bound int32) int32 {
	if bound <= 0 {
		panic("nexmark: JavaRandom.NextIntn: bound must be positive")
	}
	rnd := r.next(31)
	m := bound - 1
	if bound&m == 0 {
		return int32((int64(bound) * int64(rnd)) >> 31)
	}
	// Java: for (int u = r; u - (r = u % bound) + m < 0; u = next(31));
	// the test relies on 32-bit overflow, which Go's int32 arithmetic reproduces.
	for u := rnd; ; u = r.next(31) {
		rnd = u % bound
		if u-rnd+m >= 0 {
			return rnd
		}
	}
}

// NextLong returns the next pseudo-random int64, as Java's nextLong(): two 32-bit draws, the
// second added with its sign.
func (r *JavaRandom) NextLong() int64 {
	hi := int64(r.next(32))
	lo := int64(r.next(32))
	return (hi << 32) + lo
}

// NextDouble returns a pseudo-random float64 in [0, 1) with 53 random bits, as Java's
// nextDouble().
func (r *JavaRandom) NextDouble() float64 {
	hi := int64(r.next(26))
	lo := int64(r.next(27))
	return float64((hi<<27)+lo) * doubleUnit
}

// NextBoolean returns a pseudo-random bool, as Java's nextBoolean().
func (r *JavaRandom) NextBoolean() bool {
	return r.next(1) != 0
}
