package flow

// prefetch asks the CPU to bring the cache line holding addr into the caches, without waiting
// for it: unlike a load, a prefetch that misses does not hold back the instructions after it, so
// the lines of a whole group of keys are fetched at once. It never faults.
func prefetch(addr uintptr)
