//go:build race

package webhookserver_test

// raceEnabled is set under -race, which makes sync.Pool drop items at random.
const raceEnabled = true
