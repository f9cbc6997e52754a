//go:build !race

package pebble

// raceScale divides the sizes of the larger tests under the race detector (see race_test.go).
const raceScale = 1
