//go:build race

package pebble

// raceScale divides the sizes of the larger tests under the race detector, which also turns on
// Pebble's invariant checks and makes it several times slower.
const raceScale = 4
