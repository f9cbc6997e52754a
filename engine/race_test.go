//go:build race

package engine_test

// raceScale is 1 without the race detector and larger with it, which slows the tests several
// times: heavy tests scale down or skip.
const raceScale = 5
