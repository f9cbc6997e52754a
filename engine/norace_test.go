//go:build !race

package engine_test

// raceScale is 1 without the race detector (see race_test.go).
const raceScale = 1
